-- Door events and camera clips (issue 6, items 1 and 6). The PostgreSQL
-- schema (migrations/postgres) has the same tables; only the types are
-- spelled differently.

-- The entry each lock's door events belong to: set when the lock grants a
-- credential or accepts a door code (the grant's delivery, carrier, driver
-- and unit), cleared when it relocks; `opened_at` is the service time it
-- learnt the door opened (NULL while closed), `ajar_logged` whether a
-- door_ajar was logged for that opening (by the lock or by the service's
-- timer). Written only in the transaction that stores the lock event that
-- changes it, or by the ajar timer; `version` is their compare-and-set.
CREATE TABLE lock_doors (
    lock_id TEXT PRIMARY KEY NOT NULL REFERENCES locks (id),
    grant_id TEXT,
    delivery_id TEXT,
    carrier_id TEXT,
    driver_id TEXT,
    unit_id TEXT,
    opened_at BIGINT,
    ajar_logged BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX lock_doors_open ON lock_doors (opened_at) WHERE opened_at IS NOT NULL AND NOT ajar_logged;

-- Attribution of a lock event to its grant looks for the property's grants
-- issued around the event's time.
CREATE INDEX grants_by_property ON grants (property_id, issued_at);

-- One row per `camera_clip` lock event, written with the stored event (its
-- SHA-256 is what the lock signed, its scope the entry it belongs to). The
-- clip's bytes live in the object store under `object_key`; `stored_at` is
-- set (with the clip_ready log entry) once an upload with that hash was
-- written there, `deleted_at` (with clip_deleted) when retention removed it.
CREATE TABLE clips (
    id TEXT PRIMARY KEY NOT NULL,
    lock_id TEXT NOT NULL REFERENCES locks (id),
    counter BIGINT NOT NULL,
    sha256 BLOB NOT NULL,
    recorded_at BIGINT NOT NULL,
    property_id TEXT NOT NULL REFERENCES properties (id),
    access_point_id TEXT NOT NULL,
    unit_id TEXT,
    carrier_id TEXT,
    driver_id TEXT,
    delivery_id TEXT,
    size BIGINT,
    content_type TEXT,
    object_key TEXT,
    stored_at BIGINT,
    deleted_at BIGINT,
    UNIQUE (lock_id, counter)
);
CREATE INDEX clips_by_unit ON clips (unit_id, recorded_at);
CREATE INDEX clips_by_property ON clips (property_id, recorded_at);
CREATE INDEX clips_stored ON clips (stored_at) WHERE stored_at IS NOT NULL AND deleted_at IS NULL;
