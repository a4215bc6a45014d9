-- Vehicles and guest passes (issue 6, items 7 and 9).
--
-- A vehicle's trunk is an access point, a lock and a drop spot of its
-- owner's home property and unit (inserted with the vehicle, in one
-- transaction); this table ties them to the owner.
CREATE TABLE vehicles (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES residents (id),
    unit_id TEXT NOT NULL REFERENCES units (id),
    property_id TEXT NOT NULL REFERENCES properties (id),
    name TEXT NOT NULL,
    plate TEXT,
    access_point_id TEXT NOT NULL UNIQUE REFERENCES access_points (id),
    lock_id TEXT NOT NULL UNIQUE REFERENCES locks (id),
    drop_spot_id TEXT NOT NULL UNIQUE REFERENCES drop_spots (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX vehicles_by_unit ON vehicles (unit_id);

-- The last position each vehicle reported (only the last one is kept:
-- positions are personal data), with the service's time of receipt.
CREATE TABLE vehicle_positions (
    vehicle_id TEXT PRIMARY KEY NOT NULL REFERENCES vehicles (id),
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    reported_at BIGINT NOT NULL
);

-- A guest's time-bounded access to a unit's doors (or a vehicle's trunk).
-- doors is JSON: [{access_point_id, lock_id, credential_id, sequence,
-- door_code}]; the credentials and codes themselves are never stored.
CREATE TABLE guest_passes (
    id TEXT PRIMARY KEY NOT NULL,
    unit_id TEXT NOT NULL REFERENCES units (id),
    property_id TEXT NOT NULL REFERENCES properties (id),
    vehicle_id TEXT REFERENCES vehicles (id),
    created_by TEXT NOT NULL REFERENCES residents (id),
    name TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    doors TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    FOREIGN KEY (unit_id, property_id) REFERENCES units (id, property_id)
);
CREATE INDEX guest_passes_by_unit ON guest_passes (unit_id, created_at);
