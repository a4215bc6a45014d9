-- doorman's schema on SQLite. The PostgreSQL schema (migrations/postgres)
-- has the same tables, columns and constraints; only the column types and the
-- insertion-order columns are spelled differently. Ids are UUIDs as text,
-- times are unix seconds, lists and small structs are JSON text.

CREATE TABLE tokens (
    id TEXT PRIMARY KEY NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    principal TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row at most: whoever inserts it is the one operator bootstrap.
CREATE TABLE operator_bootstrap (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    token_id TEXT NOT NULL,
    bootstrapped_at BIGINT NOT NULL
);

CREATE TABLE managers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE carriers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE properties (
    id TEXT PRIMARY KEY NOT NULL,
    manager_id TEXT NOT NULL REFERENCES managers (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    time_zone TEXT NOT NULL,
    notice_text TEXT,
    notice_notified_at BIGINT,
    notice_live_from BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX properties_by_manager ON properties (manager_id);

CREATE TABLE units (
    id TEXT PRIMARY KEY NOT NULL,
    property_id TEXT NOT NULL REFERENCES properties (id),
    label TEXT NOT NULL,
    -- lets children name (unit, property) together, so a row can never
    -- point at a unit of another property
    UNIQUE (id, property_id)
);
CREATE INDEX units_by_property ON units (property_id);

CREATE TABLE access_points (
    id TEXT PRIMARY KEY NOT NULL,
    property_id TEXT NOT NULL REFERENCES properties (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_id TEXT,
    unit_id TEXT,
    UNIQUE (id, property_id),
    FOREIGN KEY (parent_id, property_id) REFERENCES access_points (id, property_id),
    FOREIGN KEY (unit_id, property_id) REFERENCES units (id, property_id)
);
CREATE INDEX access_points_by_property ON access_points (property_id);

CREATE TABLE locks (
    id TEXT PRIMARY KEY NOT NULL,
    property_id TEXT NOT NULL REFERENCES properties (id),
    -- one lock per door
    access_point_id TEXT NOT NULL UNIQUE,
    device_public_key BLOB NOT NULL,
    model TEXT NOT NULL,
    firmware TEXT NOT NULL,
    mobile_credential BOOLEAN NOT NULL,
    keypad BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    -- the last credential sequence number handed out
    sequence BIGINT NOT NULL DEFAULT 0,
    FOREIGN KEY (access_point_id, property_id) REFERENCES access_points (id, property_id)
);
CREATE INDEX locks_by_property ON locks (property_id);

CREATE TABLE drop_spots (
    id TEXT PRIMARY KEY NOT NULL,
    property_id TEXT NOT NULL REFERENCES properties (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    access_point_id TEXT NOT NULL,
    unit_id TEXT,
    FOREIGN KEY (access_point_id, property_id) REFERENCES access_points (id, property_id),
    FOREIGN KEY (unit_id, property_id) REFERENCES units (id, property_id)
);
CREATE INDEX drop_spots_by_property ON drop_spots (property_id);

CREATE TABLE enablements (
    property_id TEXT NOT NULL REFERENCES properties (id),
    carrier_id TEXT NOT NULL REFERENCES carriers (id),
    enabled BOOLEAN NOT NULL,
    hours TEXT NOT NULL,
    allowed_drop_spots TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (property_id, carrier_id)
);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    unit_id TEXT NOT NULL REFERENCES units (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    code_hash BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT
);
CREATE INDEX invitations_by_unit ON invitations (unit_id);

CREATE TABLE residents (
    id TEXT PRIMARY KEY NOT NULL,
    unit_id TEXT NOT NULL REFERENCES units (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX residents_by_unit ON residents (unit_id);

CREATE TABLE unit_preferences (
    unit_id TEXT PRIMARY KEY NOT NULL REFERENCES units (id),
    preferred_drop_spot TEXT REFERENCES drop_spots (id),
    allow_in_unit BOOLEAN NOT NULL,
    alternate_address TEXT,
    pickup_point TEXT
);

CREATE TABLE blocks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id TEXT NOT NULL REFERENCES units (id),
    blocked_by TEXT NOT NULL REFERENCES residents (id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    reason TEXT
);
CREATE INDEX blocks_by_unit ON blocks (unit_id, starts_at);

CREATE TABLE drivers (
    id TEXT PRIMARY KEY NOT NULL,
    carrier_id TEXT NOT NULL REFERENCES carriers (id),
    name TEXT NOT NULL,
    handheld_public_key BLOB,
    vetting TEXT NOT NULL,
    vetted_at BIGINT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX drivers_by_carrier ON drivers (carrier_id);

CREATE TABLE deliveries (
    -- insertion order, to break ties between deliveries of the same second
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    carrier_id TEXT NOT NULL REFERENCES carriers (id),
    property_id TEXT NOT NULL REFERENCES properties (id),
    unit_id TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    kind TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    eta BIGINT,
    state TEXT NOT NULL,
    drop_spot_id TEXT REFERENCES drop_spots (id),
    completed_by TEXT REFERENCES drivers (id),
    photo_ref TEXT,
    hash_salt BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (carrier_id, tracking_number),
    FOREIGN KEY (unit_id, property_id) REFERENCES units (id, property_id)
);
CREATE INDEX deliveries_by_carrier ON deliveries (carrier_id, created_at);
CREATE INDEX deliveries_by_property ON deliveries (property_id, created_at);
CREATE INDEX deliveries_by_unit ON deliveries (unit_id, created_at);

CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    driver_id TEXT NOT NULL REFERENCES drivers (id),
    carrier_id TEXT NOT NULL REFERENCES carriers (id),
    property_id TEXT NOT NULL REFERENCES properties (id),
    unit_id TEXT NOT NULL REFERENCES units (id),
    drop_spot_id TEXT NOT NULL REFERENCES drop_spots (id),
    doors TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_by_delivery ON grants (delivery_id, issued_at);

-- The one grant per delivery that may be live. A claim replaces the row only
-- when the grant it holds has expired or was revoked, so at most one claim
-- wins however many race (see claim_grant). Mirrors the grant's expiry and
-- revocation so that the decision reads this row alone.
CREATE TABLE live_grants (
    delivery_id TEXT PRIMARY KEY NOT NULL REFERENCES deliveries (id),
    grant_id TEXT NOT NULL UNIQUE REFERENCES grants (id),
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE access_requests (
    -- insertion order, to break ties between requests of the same second
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX access_requests_by_property ON access_requests (property_id, requested_at);
CREATE INDEX access_requests_by_carrier ON access_requests (carrier_id, requested_at);
CREATE INDEX access_requests_by_driver ON access_requests (driver_id, requested_at);
CREATE INDEX access_requests_by_delivery ON access_requests (delivery_id);
CREATE INDEX access_requests_by_unit ON access_requests (unit_id, requested_at);
