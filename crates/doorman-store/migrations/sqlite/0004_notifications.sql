-- Notifications: webhook subscriptions, their outbox, the fan-out cursor,
-- and the directory of pickup points. The PostgreSQL and SQLite schemas
-- differ only in how types are spelled.

-- A principal's webhook. `owner` is the principal as JSON; `events` a JSON
-- array of event types (empty: all); `secret` signs every delivery.
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    -- Only log entries with a larger index are sent (NULL: from the first).
    after_index INTEGER
);
CREATE INDEX webhook_subscriptions_by_owner ON webhook_subscriptions (owner, created_at);

-- The outbox: one row per (subscription, event), made by the fan-out in the
-- same transaction that moves the cursor, so nothing is lost or doubled.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    delivered_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, event_id);

-- The next log index the fan-out reads.
CREATE TABLE webhook_cursor (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    next_index INTEGER NOT NULL
);
INSERT INTO webhook_cursor (singleton, next_index) VALUES (1, 0);

-- Shops and lockers that hold parcels: where a blocked delivery is diverted.
CREATE TABLE pickup_points (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    hours TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
