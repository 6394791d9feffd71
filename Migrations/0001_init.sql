-- Signet's whole data model. Later migrations add to it; none rewrites it.

-- Accounts. `username` is stored normalized (NFKC + case fold) by the application.
CREATE TABLE users (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    username            text        NOT NULL,
    email               text,
    password_hash       text        NOT NULL,
    roles               text[]      NOT NULL DEFAULT '{}',
    disabled            boolean     NOT NULL DEFAULT false,
    -- Tokens issued before this instant are dead (user-wide revocation, password change).
    tokens_valid_after  timestamptz,
    failed_login_count  integer     NOT NULL DEFAULT 0,
    last_failed_login_at timestamptz,
    locked_until        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_username_length CHECK (username <> '' AND octet_length(username) <= 256),
    CONSTRAINT users_email_length CHECK (email IS NULL OR (email <> '' AND octet_length(email) <= 320)),
    CONSTRAINT users_password_hash_phc CHECK (password_hash LIKE '$argon2id$%'),
    CONSTRAINT users_roles_no_nulls CHECK (array_position(roles, NULL) IS NULL),
    CONSTRAINT users_failed_login_count_nonnegative CHECK (failed_login_count >= 0)
);
CREATE INDEX users_email_idx ON users (lower(email)) WHERE email IS NOT NULL;

-- Applications. A public client has no secret; a confidential one stores only a hash of it.
CREATE TABLE clients (
    client_id                   text        PRIMARY KEY,
    client_name                 text,
    secret_hash                 text,
    token_endpoint_auth_method  text        NOT NULL,
    grant_types                 text[]      NOT NULL DEFAULT '{}',
    scopes                      text[]      NOT NULL DEFAULT '{}',
    audience                    text,
    access_token_lifetime_seconds   integer,
    refresh_token_lifetime_seconds  integer,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clients_client_id_format CHECK (client_id ~ '^[A-Za-z0-9._~-]{1,128}$'),
    CONSTRAINT clients_auth_method CHECK (
        token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
    CONSTRAINT clients_secret_matches_method CHECK (
        (token_endpoint_auth_method = 'none') = (secret_hash IS NULL)),
    CONSTRAINT clients_grant_types_known CHECK (
        grant_types <@ ARRAY['password', 'refresh_token', 'client_credentials']::text[]),
    CONSTRAINT clients_access_lifetime_positive CHECK (
        access_token_lifetime_seconds IS NULL OR access_token_lifetime_seconds > 0),
    CONSTRAINT clients_refresh_lifetime_positive CHECK (
        refresh_token_lifetime_seconds IS NULL OR refresh_token_lifetime_seconds > 0)
);

-- One row per login = one refresh-token family. Refresh tokens themselves are never stored:
-- a token is (session id, counter) under a MAC; rotation advances refresh_counter.
CREATE TABLE sessions (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id           text        NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope               text        NOT NULL DEFAULT '',
    auth_time           timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    refresh_counter     bigint      NOT NULL DEFAULT 0,
    last_refreshed_at   timestamptz,
    revoked_at          timestamptz,
    revoked_reason      text,
    CONSTRAINT sessions_refresh_counter_nonnegative CHECK (refresh_counter >= 0),
    CONSTRAINT sessions_expiry_after_creation CHECK (expires_at > created_at),
    CONSTRAINT sessions_revocation_has_reason CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX sessions_user_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_client_idx ON sessions (client_id);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at DESC) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- The revocation list of access tokens: a jti stays here until the token's own expiry.
CREATE TABLE revoked_tokens (
    jti         text        PRIMARY KEY,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now(),
    session_id  uuid,
    reason      text,
    CONSTRAINT revoked_tokens_jti_length CHECK (jti <> '' AND octet_length(jti) <= 256)
);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);

-- Signing keys, next -> current -> retired. The private key is sealed (AES-GCM) under the
-- master key, which never reaches the database.
CREATE TABLE signing_keys (
    kid                 text        PRIMARY KEY,
    alg                 text        NOT NULL,
    state               text        NOT NULL,
    private_key_sealed  bytea       NOT NULL,
    public_jwk          jsonb       NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    activated_at        timestamptz,
    retired_at          timestamptz,
    -- A retired key stays published until every token it signed has expired.
    publish_until       timestamptz,
    CONSTRAINT signing_keys_alg_known CHECK (alg IN ('ES256', 'EdDSA', 'RS256', 'PS256')),
    CONSTRAINT signing_keys_state_known CHECK (state IN ('next', 'current', 'retired')),
    CONSTRAINT signing_keys_retired_has_horizon CHECK ((state = 'retired') = (publish_until IS NOT NULL)),
    CONSTRAINT signing_keys_public_jwk_object CHECK (jsonb_typeof(public_jwk) = 'object')
);
CREATE UNIQUE INDEX signing_keys_one_current_idx ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next_idx ON signing_keys (state) WHERE state = 'next';

-- Security events. Rows outlive the users, clients and sessions they mention (no foreign keys)
-- and are never changed or deleted by the application.
CREATE TABLE audit_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type        text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     uuid,
    client_id   text,
    session_id  uuid,
    remote_addr text,
    detail      jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT audit_events_type_format CHECK (type ~ '^[a-z][a-z0-9_.]{0,63}$'),
    CONSTRAINT audit_events_detail_object CHECK (jsonb_typeof(detail) = 'object')
);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id DESC) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_type_idx ON audit_events (type, id DESC);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
