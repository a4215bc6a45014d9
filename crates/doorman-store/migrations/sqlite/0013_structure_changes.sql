-- What a manager made can be changed and taken away (issue 15).
--
-- Units, access points and drop spots are removed softly: `removed_at` is
-- set, the row stays (deliveries, grants, events and clips keep naming it),
-- and every lookup for new work skips it.
--
-- A lock is decommissioned (`decommissioned_at`), possibly replaced by a new
-- lock on the same door (`replaced_by`). A door then has several lock rows
-- over time, at most one of them in service: the column's UNIQUE of 0001
-- becomes a unique index over the locks in service. SQLite cannot drop a
-- column constraint, so the table is rebuilt inside this migration's
-- transaction: its rows are copied aside, the table dropped and created
-- anew, and the rows put back with their ids. The foreign keys pointing at
-- locks (lock_fleet, lock_events, clips, ...) are checked at commit
-- (`defer_foreign_keys`, which ends with the transaction): dropping the
-- table leaves their rows without a parent for a moment, and putting each
-- lock back gives them their parent again; a row left without one would
-- fail the commit, and nothing of the migration would stay.
PRAGMA defer_foreign_keys = ON;

ALTER TABLE units ADD COLUMN removed_at BIGINT;
ALTER TABLE access_points ADD COLUMN removed_at BIGINT;
ALTER TABLE drop_spots ADD COLUMN removed_at BIGINT;

CREATE TABLE locks_before_0013 AS SELECT * FROM locks;
DROP TABLE locks;
CREATE TABLE locks (
    id TEXT PRIMARY KEY NOT NULL,
    property_id TEXT NOT NULL REFERENCES properties (id),
    access_point_id TEXT NOT NULL,
    device_public_key BLOB NOT NULL,
    model TEXT NOT NULL,
    firmware TEXT NOT NULL,
    mobile_credential BOOLEAN NOT NULL,
    keypad BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    -- the last credential sequence number handed out
    sequence BIGINT NOT NULL DEFAULT 0,
    decommissioned_at BIGINT,
    replaced_by TEXT REFERENCES locks (id),
    FOREIGN KEY (access_point_id, property_id) REFERENCES access_points (id, property_id)
);
INSERT INTO locks (id, property_id, access_point_id, device_public_key, model, firmware, mobile_credential, keypad,
    created_at, sequence)
SELECT id, property_id, access_point_id, device_public_key, model, firmware, mobile_credential, keypad, created_at,
    sequence FROM locks_before_0013;
DROP TABLE locks_before_0013;

-- one lock in service per door
CREATE UNIQUE INDEX locks_in_service_by_door ON locks (access_point_id) WHERE decommissioned_at IS NULL;
CREATE INDEX locks_by_property ON locks (property_id);

-- The access configuration's triggers on locks (0012) went with the old
-- table; the update trigger now names the new columns too.
CREATE TRIGGER locks_insert_bumps_access_config AFTER INSERT ON locks
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER locks_delete_bumps_access_config AFTER DELETE ON locks
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER locks_update_bumps_access_config AFTER UPDATE OF id, property_id, access_point_id, device_public_key, model, firmware,
    mobile_credential, keypad, created_at, decommissioned_at, replaced_by ON locks
BEGIN UPDATE access_config_version SET version = version + 1; END;
