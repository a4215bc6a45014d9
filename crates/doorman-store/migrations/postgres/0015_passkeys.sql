-- Passkeys: WebAuthn credentials a person signs in to the dashboard with,
-- several per person. Each is held through a token of its own (token_id)
-- whose secret was never kept, so nobody can use it as an API token: a
-- session opened with the passkey acts as that token and ends with it (the
-- passkey removed, the resident moved out, a re-invitation). `credential`
-- is the verifier's own record (public key, sign counter, backup flags) as
-- JSON; `sign_count` repeats its counter so an update can compare and set.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    principal TEXT NOT NULL,
    name TEXT NOT NULL,
    credential_id BYTEA NOT NULL UNIQUE,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    token_id TEXT NOT NULL UNIQUE REFERENCES tokens (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_by_principal ON passkeys (principal);
CREATE INDEX tokens_by_principal ON tokens (principal);

-- A WebAuthn ceremony under way (a passkey being registered, a sign-in):
-- the verifier's state, keyed by the SHA-256 of a random id the browser
-- holds in an HttpOnly cookie. Taken (deleted) by the one request that
-- finishes it; it expires in minutes.
CREATE TABLE webauthn_ceremonies (
    hash BYTEA PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    principal TEXT,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);

-- A re-invitation names the resident it brings back.
ALTER TABLE invitations ADD COLUMN resident_id TEXT REFERENCES residents (id);
