-- Several service processes on one database.
-- A resident's remote unlock waits here for its lock's challenge, so that
-- whichever process receives the challenge answers it (once: the answer
-- deletes the row).
CREATE TABLE remote_unlocks (
    lock_id TEXT NOT NULL REFERENCES locks (id),
    request_id BIGINT NOT NULL,
    resident TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    property_id TEXT NOT NULL,
    access_point_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (lock_id, request_id)
);
-- The service accounts of an external broker (one per process: Mosquitto
-- ties a session to its username), so that every process writes the same
-- password and ACL files.
CREATE TABLE fleet_service_accounts (
    username TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
