-- A version of the access path's configuration, which the SQLite store keeps
-- in memory between access requests (see sqlite_direct's ConfigCache).
--
-- Every access request reads its property, the property's access points,
-- drop spots and locks, and the carrier's enablement there; they change when
-- a manager changes the building, rarely. The triggers below bump this one
-- counter in the same transaction as any such change, whichever process or
-- connection makes it. A reader reads the counter in the same read
-- transaction as everything else, and uses what it kept only if the counter
-- is the one it was read under; so what it uses is what the database holds
-- in that snapshot.
--
-- The locks' sequence column changes with every grant and is not part of
-- the configuration: its trigger names the other columns. A column added to
-- locks (or read by the access path from another table) must be added here.
CREATE TABLE access_config_version (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    version BIGINT NOT NULL
);
INSERT INTO access_config_version (singleton, version) VALUES (1, 0);

CREATE TRIGGER properties_insert_bumps_access_config AFTER INSERT ON properties
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER properties_update_bumps_access_config AFTER UPDATE ON properties
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER properties_delete_bumps_access_config AFTER DELETE ON properties
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER access_points_insert_bumps_access_config AFTER INSERT ON access_points
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER access_points_update_bumps_access_config AFTER UPDATE ON access_points
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER access_points_delete_bumps_access_config AFTER DELETE ON access_points
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER drop_spots_insert_bumps_access_config AFTER INSERT ON drop_spots
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER drop_spots_update_bumps_access_config AFTER UPDATE ON drop_spots
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER drop_spots_delete_bumps_access_config AFTER DELETE ON drop_spots
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER enablements_insert_bumps_access_config AFTER INSERT ON enablements
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER enablements_update_bumps_access_config AFTER UPDATE ON enablements
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER enablements_delete_bumps_access_config AFTER DELETE ON enablements
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER locks_insert_bumps_access_config AFTER INSERT ON locks
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER locks_delete_bumps_access_config AFTER DELETE ON locks
BEGIN UPDATE access_config_version SET version = version + 1; END;
CREATE TRIGGER locks_update_bumps_access_config AFTER UPDATE OF id, property_id, access_point_id, device_public_key, model, firmware,
    mobile_credential, keypad, created_at ON locks
BEGIN UPDATE access_config_version SET version = version + 1; END;
