-- Browser sign-in (OpenID Connect authorization code + PKCE): client metadata, one signing-key
-- lifecycle per algorithm, browser sessions, authorization codes and remembered consents.

-- Clients: redirect URIs (matched byte for byte), PKCE, consent and the ID-token algorithm.
ALTER TABLE clients
    ADD COLUMN redirect_uris                text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN post_logout_redirect_uris    text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN require_pkce                 boolean NOT NULL DEFAULT true,
    ADD COLUMN skip_consent                 boolean NOT NULL DEFAULT false,
    ADD COLUMN id_token_signed_response_alg text    NOT NULL DEFAULT 'RS256',
    ADD CONSTRAINT clients_id_token_alg_known CHECK (id_token_signed_response_alg IN ('RS256', 'ES256')),
    ADD CONSTRAINT clients_public_require_pkce CHECK (token_endpoint_auth_method <> 'none' OR require_pkce),
    ADD CONSTRAINT clients_code_needs_redirect CHECK (
        NOT ('authorization_code' = ANY (grant_types)) OR cardinality(redirect_uris) > 0),
    ADD CONSTRAINT clients_redirect_uris_no_nulls CHECK (
        array_position(redirect_uris, NULL) IS NULL AND array_position(post_logout_redirect_uris, NULL) IS NULL);
ALTER TABLE clients DROP CONSTRAINT clients_grant_types_known;
ALTER TABLE clients ADD CONSTRAINT clients_grant_types_known CHECK (
    grant_types <@ ARRAY['password', 'refresh_token', 'client_credentials', 'authorization_code']::text[]);

-- ID tokens are RS256 by default while access tokens keep their own algorithm: each algorithm in
-- use has its own next -> current -> retired lifecycle.
DROP INDEX signing_keys_one_current_idx;
DROP INDEX signing_keys_one_next_idx;
CREATE UNIQUE INDEX signing_keys_one_current_idx ON signing_keys (alg) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next_idx ON signing_keys (alg) WHERE state = 'next';

-- A signed-in browser. The cookie holds a random secret; only its SHA-256 is kept. `id` is the
-- public session id (`sid`). Live while not revoked, its user enabled and in the generation it
-- was created under (a password change, disabling or user-wide revocation ends it), and within
-- its idle and absolute lifetimes.
CREATE TABLE browser_sessions (
    id              uuid        PRIMARY KEY,
    secret_hash     bytea       NOT NULL,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_generation bigint      NOT NULL,
    auth_time       timestamptz NOT NULL,
    amr             text[]      NOT NULL,
    acr             text        NOT NULL DEFAULT '1',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    CONSTRAINT browser_sessions_secret_hash_length CHECK (octet_length(secret_hash) = 32),
    CONSTRAINT browser_sessions_revocation_has_reason CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE UNIQUE INDEX browser_sessions_secret_hash_idx ON browser_sessions (secret_hash);
CREATE INDEX browser_sessions_user_live_idx ON browser_sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX browser_sessions_expires_at_idx ON browser_sessions (expires_at);
CREATE TRIGGER browser_sessions_revoked AFTER UPDATE OF revoked_at ON browser_sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION signet_notify_change();

-- Refresh families started from a browser sign-in end with it.
ALTER TABLE sessions ADD COLUMN browser_session_id uuid REFERENCES browser_sessions (id) ON DELETE CASCADE;
CREATE INDEX sessions_browser_session_idx ON sessions (browser_session_id) WHERE browser_session_id IS NOT NULL;

-- Authorization codes: only a hash is stored; used once (used_at), live at most 60 s. The refresh
-- family the exchange created is remembered so that a second exchange can revoke it. One foreign
-- key only (issuing a code is the hot path of single sign-on): a deleted user's codes go with
-- their browser sessions, and a deleted client can no longer authenticate to exchange its codes
-- (the retention clean-up removes them).
CREATE TABLE authorization_codes (
    code_hash           bytea       PRIMARY KEY,
    client_id           text        NOT NULL,
    user_id             uuid        NOT NULL,
    browser_session_id  uuid        NOT NULL REFERENCES browser_sessions (id) ON DELETE CASCADE,
    redirect_uri        text        NOT NULL,
    code_challenge      text,
    nonce               text,
    scope               text        NOT NULL,
    auth_time           timestamptz NOT NULL,
    amr                 text[]      NOT NULL,
    acr                 text        NOT NULL DEFAULT '1',
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    used_at             timestamptz,
    -- What the exchange issued, so that a second exchange can revoke it.
    session_id          uuid,
    access_token_jti    text,
    access_token_expires_at timestamptz,
    CONSTRAINT authorization_codes_hash_length CHECK (octet_length(code_hash) = 32),
    CONSTRAINT authorization_codes_short_lived CHECK (expires_at <= created_at + interval '60 seconds')
);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

-- Remembered consent: the scopes a user granted a client. A request within them asks nothing.
CREATE TABLE consents (
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   text        NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes      text[]      NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);
