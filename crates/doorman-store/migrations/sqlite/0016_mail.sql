-- Email: what each person chooses to be told, the mail outbox filled from
-- the transparency log, and the single-use sign-in links. The PostgreSQL
-- and SQLite schemas differ only in how types are spelled.

-- A person's choice for one kind of notification (no row: the default,
-- NotificationKind::DEFAULT in doorman-domain).
CREATE TABLE notification_choices (
    resident_id TEXT NOT NULL REFERENCES residents (id),
    kind TEXT NOT NULL,
    email BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (resident_id, kind)
);

-- The mail outbox: one row per (log entry, person, kind), made by the
-- fan-out in the same transaction that moves the mail cursor, so a crash
-- loses nothing and the unique key keeps an event from being mailed twice.
-- The message is rendered when the row is made (names as they were then).
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    event_id BIGINT NOT NULL,
    resident_id TEXT NOT NULL REFERENCES residents (id),
    kind TEXT NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    unsubscribe_url TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    sent_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (event_id, resident_id, kind)
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_attempt_at);
CREATE INDEX mail_outbox_by_resident ON mail_outbox (resident_id, event_id);

-- The next log index the mail fan-out reads. No row until mail is first
-- sent: it starts at the log's head then (no mail about the past).
CREATE TABLE mail_cursor (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    next_index BIGINT NOT NULL
);

-- Email sign-in links: only the SHA-256 of the link's secret is kept;
-- single use (used_at), valid until expires_at.
CREATE TABLE email_sign_in_links (
    hash BLOB PRIMARY KEY NOT NULL,
    resident_id TEXT NOT NULL REFERENCES residents (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_sign_in_links_by_resident ON email_sign_in_links (resident_id, created_at);
