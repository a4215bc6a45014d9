-- The transparency log (audit trail) on PostgreSQL: its entries, the
-- Merkle tree's stored hashes, its signed checkpoints with their witness
-- cosignatures, and the state of the appenders and of the sequencer. The
-- SQLite schema (migrations/sqlite) has the same tables; only the types are
-- spelled differently. See doorman-store's `audit` module for how they are
-- written.

-- One row per entry. `idx` is the entry's index in the log (from 0, dense:
-- handed out by log_counter in the transaction that writes the entry and the
-- change it describes). `entry` is the event's canonical bytes, the Merkle
-- leaf; the other columns repeat the event's scope so that a reader's
-- entries can be found without decoding every entry (the service still
-- checks each decoded event against the reader's rights).
CREATE TABLE log_entries (
    idx BIGINT PRIMARY KEY NOT NULL,
    entry BYTEA NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    property_id TEXT,
    unit_id TEXT,
    carrier_id TEXT,
    driver_id TEXT,
    delivery_id TEXT
);
CREATE INDEX log_entries_by_property ON log_entries (property_id, idx);
CREATE INDEX log_entries_by_unit ON log_entries (unit_id, idx);
-- A driver's entries are found among their carrier's (each has both).
CREATE INDEX log_entries_by_carrier ON log_entries (carrier_id, idx);
-- What the operator may read: configuration and key events.
CREATE INDEX log_entries_operator ON log_entries (idx) WHERE kind IN ('configuration_changed', 'key_rotated');

-- The appenders' counter: the next index to hand out. Taking indexes updates
-- this one row, so appenders that commit take turns (on PostgreSQL the row
-- lock serializes them from the update to the commit), and the committed
-- entries are always a gap-free prefix of the log.
CREATE TABLE log_counter (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    next_index BIGINT NOT NULL CHECK (next_index >= 0)
);
INSERT INTO log_counter (singleton, next_index) VALUES (1, 0);

-- The sequencer's state: how many entries the stored tree (log_hashes) and
-- the latest checkpoint cover. Written in the transaction that stores the
-- hashes and the checkpoint, so a restart resumes where the last one ended.
CREATE TABLE log_tree (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    size BIGINT NOT NULL CHECK (size >= 0)
);
INSERT INTO log_tree (singleton, size) VALUES (1, 0);

-- The hash of every complete subtree, keyed by NodeId::stored_index
-- (doorman-tlog): two per entry on average, only ever appended.
CREATE TABLE log_hashes (
    idx BIGINT PRIMARY KEY NOT NULL,
    hash BYTEA NOT NULL
);

-- Every checkpoint the log signed, by tree size (so two different
-- checkpoints of one size cannot both be stored): the C2SP signed note with
-- the log's signature.
CREATE TABLE log_checkpoints (
    size BIGINT PRIMARY KEY NOT NULL,
    root BYTEA NOT NULL,
    note TEXT NOT NULL,
    signed_at BIGINT NOT NULL
);

-- Witness cosignatures of a checkpoint: the signature line as the witness
-- returned it (checked against the witness's key before it is stored).
CREATE TABLE log_cosignatures (
    size BIGINT NOT NULL REFERENCES log_checkpoints (size),
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (size, witness)
);
