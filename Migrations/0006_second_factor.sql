-- Multi-factor sign-in: TOTP credentials (sealed at rest), recovery codes (hashed), the pending
-- second-factor step of a sign-in, per-client policy, and how each refresh family authenticated.

-- One TOTP credential per user. The secret is sealed (AES-GCM under a key derived from the
-- master key, bound to the user id); `last_used_step` refuses a code used before (replay).
CREATE TABLE totp_credentials (
    user_id         uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed   bytea       NOT NULL,
    last_used_step  bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Single-use recovery codes: only an HMAC of each is stored.
CREATE TABLE recovery_codes (
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   bytea       NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash),
    CONSTRAINT recovery_codes_hash_length CHECK (octet_length(code_hash) = 32)
);

-- A sign-in waiting for its second factor: the password was right (or, for a step-up, the browser
-- session is live), the code is not typed yet. Found by the hash of a cookie's secret; valid for
-- minutes and only while the user stays in the generation it was created under. An enrolment
-- carries the new secret (sealed) until a code proves the authenticator has it.
CREATE TABLE mfa_challenges (
    id                  uuid        PRIMARY KEY,
    secret_hash         bytea       NOT NULL UNIQUE,
    user_id             uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_generation     bigint      NOT NULL,
    purpose             text        NOT NULL,
    pending_secret_sealed bytea,
    -- A step-up raises this live browser session instead of creating a new one.
    browser_session_id  uuid        REFERENCES browser_sessions (id) ON DELETE CASCADE,
    auth_time           timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    CONSTRAINT mfa_challenges_purpose CHECK (purpose IN ('verify', 'enrol')),
    CONSTRAINT mfa_challenges_enrolment_secret CHECK ((purpose = 'enrol') = (pending_secret_sealed IS NOT NULL)),
    CONSTRAINT mfa_challenges_hash_length CHECK (octet_length(secret_hash) = 32)
);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);

ALTER TABLE clients ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;

-- How the login behind a refresh family authenticated (RFC 8176 methods, acr "1" or "2"), so
-- that refreshed access tokens say the same.
ALTER TABLE sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
ALTER TABLE sessions ADD COLUMN acr text NOT NULL DEFAULT '1';
ALTER TABLE sessions ADD CONSTRAINT sessions_acr CHECK (acr IN ('1', '2'));
ALTER TABLE browser_sessions ADD CONSTRAINT browser_sessions_acr CHECK (acr IN ('1', '2'));
