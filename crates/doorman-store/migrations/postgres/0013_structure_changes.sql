-- What a manager made can be changed and taken away (issue 15); see the
-- SQLite migration of the same number. Units, access points and drop spots
-- are removed softly (`removed_at`); a lock is decommissioned, possibly
-- replaced by a new lock on the same door, and a door has at most one lock
-- in service.
ALTER TABLE units ADD COLUMN removed_at BIGINT;
ALTER TABLE access_points ADD COLUMN removed_at BIGINT;
ALTER TABLE drop_spots ADD COLUMN removed_at BIGINT;

ALTER TABLE locks ADD COLUMN decommissioned_at BIGINT;
ALTER TABLE locks ADD COLUMN replaced_by TEXT REFERENCES locks (id);
ALTER TABLE locks DROP CONSTRAINT locks_access_point_id_key;
CREATE UNIQUE INDEX locks_in_service_by_door ON locks (access_point_id) WHERE decommissioned_at IS NULL;
