-- Dashboard sign-in sessions (doorman-dashboard). Only the SHA-256 of the
-- session's random id is kept; a session acts as the API token it was opened
-- with, so it ends with that token (cascade) or at its expiry.
CREATE TABLE web_sessions (
    hash BLOB PRIMARY KEY NOT NULL,
    token_hash BLOB NOT NULL REFERENCES tokens (hash) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
