-- The access path's tables, with fewer B-trees for each claim to write.
--
-- A granted access request writes a grant, its delivery's live_grants row,
-- the request record and its two log entries in one commit; every B-tree it
-- touches costs at least a page in the WAL and again at the checkpoint.
-- - live_grants is looked up by delivery only: keyed by it, WITHOUT ROWID, it
--   is one B-tree instead of three (the rowid table, the key's index and a
--   UNIQUE index on grant_id that no query used; a grant belongs to one
--   delivery, so its id cannot appear under two of them anyway).
-- - access_requests keeps seq as its rowid but without AUTOINCREMENT (which
--   writes sqlite_sequence on every insert): rows are never deleted, so a new
--   rowid is always the largest plus one and seq still orders requests.
-- - No query lists access requests by carrier alone (a carrier's view goes
--   through its drivers), so that index goes.

CREATE TABLE live_grants_new (
    delivery_id TEXT PRIMARY KEY NOT NULL REFERENCES deliveries (id),
    grant_id TEXT NOT NULL REFERENCES grants (id),
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
) WITHOUT ROWID;
INSERT INTO live_grants_new (delivery_id, grant_id, expires_at, revoked_at)
    SELECT delivery_id, grant_id, expires_at, revoked_at FROM live_grants;
DROP TABLE live_grants;
ALTER TABLE live_grants_new RENAME TO live_grants;

CREATE TABLE access_requests_new (
    -- insertion order, to break ties between requests of the same second
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    driver_id TEXT NOT NULL REFERENCES drivers (id),
    carrier_id TEXT NOT NULL REFERENCES carriers (id),
    property_id TEXT NOT NULL REFERENCES properties (id),
    delivery_id TEXT REFERENCES deliveries (id),
    unit_id TEXT REFERENCES units (id),
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    requested_at BIGINT NOT NULL,
    grant_id TEXT REFERENCES grants (id),
    refusal TEXT
);
INSERT INTO access_requests_new
    (seq, id, driver_id, carrier_id, property_id, delivery_id, unit_id, lat, lon, requested_at, grant_id, refusal)
    SELECT seq, id, driver_id, carrier_id, property_id, delivery_id, unit_id, lat, lon, requested_at, grant_id, refusal
    FROM access_requests;
DROP TABLE access_requests;
ALTER TABLE access_requests_new RENAME TO access_requests;
CREATE INDEX access_requests_by_property ON access_requests (property_id, requested_at);
CREATE INDEX access_requests_by_driver ON access_requests (driver_id, requested_at);
CREATE INDEX access_requests_by_delivery ON access_requests (delivery_id);
CREATE INDEX access_requests_by_unit ON access_requests (unit_id, requested_at);
