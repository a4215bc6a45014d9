-- The lock fleet: what the service keeps of each lock it talks to over MQTT.
-- The SQLite schema (migrations/sqlite) has the same tables; only the
-- types are spelled differently.

-- One row per lock that has been given a fleet account (created with the
-- lock, see `Store::insert_fleet_lock`). `mqtt_password_hash` is the
-- Mosquitto-compatible `$7$` hash of the lock's MQTT password, never the
-- password. The chain head is the last stored event of the lock's hash chain
-- (counter 0 and zero hash: none yet); it only moves by compare-and-set with
-- the event it stores. `gap_expected`/`gap_found` flag a gap the service saw
-- (cleared when the chain moves past it); `problem` names the last forged,
-- forked or broken event. `revocation_sequence` is the last revocation
-- bundle the service issued for the lock; `health` the last health report
-- (JSON), with `last_contact` the service's time of the last message.
CREATE TABLE lock_fleet (
    lock_id TEXT PRIMARY KEY NOT NULL REFERENCES locks (id),
    mqtt_password_hash TEXT NOT NULL,
    head_counter BIGINT NOT NULL DEFAULT 0,
    head_hash BYTEA NOT NULL,
    head_time BIGINT NOT NULL DEFAULT 0,
    gap_expected BIGINT,
    gap_found BIGINT,
    problem TEXT,
    problem_at BIGINT,
    revocation_sequence BIGINT NOT NULL DEFAULT 0,
    last_contact BIGINT,
    health TEXT,
    health_at BIGINT
);

-- Every event a lock signed, stored once by (lock, counter), verbatim.
CREATE TABLE lock_events (
    lock_id TEXT NOT NULL REFERENCES locks (id),
    counter BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    event_time BIGINT NOT NULL,
    signed BYTEA NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (lock_id, counter)
);

-- Credentials revoked at a lock, for its revocation bundles (entries past
-- their expiry are left out of new bundles).
CREATE TABLE lock_revocations (
    lock_id TEXT NOT NULL REFERENCES locks (id),
    credential_id BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL,
    PRIMARY KEY (lock_id, credential_id)
);
