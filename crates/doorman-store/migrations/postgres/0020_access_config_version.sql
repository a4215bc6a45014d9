-- The access path's configuration version, as SQLite has had since its 0012
-- (see there): every process keeps a property's configuration (the property,
-- its access points, drop spots and locks in service, and each carrier's
-- enablement there) in memory between access requests, and uses it only
-- while this counter is the one it was read under. Any change to those rows,
-- by any process or connection, bumps the counter in the same transaction.
--
-- The triggers are per statement (one bump however many rows changed). The
-- locks' sequence column changes with every grant and is not configuration:
-- the update trigger names the other columns. A column added to these tables
-- that the access path reads must be added here.
CREATE TABLE access_config_version (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    version BIGINT NOT NULL
);
INSERT INTO access_config_version (singleton, version) VALUES (1, 0);

CREATE FUNCTION bump_access_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_config_version SET version = version + 1 WHERE singleton = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER properties_bump_access_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON properties
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_config_version();
CREATE TRIGGER access_points_bump_access_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON access_points
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_config_version();
CREATE TRIGGER drop_spots_bump_access_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON drop_spots
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_config_version();
CREATE TRIGGER enablements_bump_access_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON enablements
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_config_version();
CREATE TRIGGER locks_change_bumps_access_config AFTER INSERT OR DELETE OR TRUNCATE ON locks
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_config_version();
CREATE TRIGGER locks_update_bumps_access_config AFTER UPDATE OF id, property_id, access_point_id, device_public_key,
    model, firmware, mobile_credential, keypad, created_at, decommissioned_at, replaced_by ON locks
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_config_version();
