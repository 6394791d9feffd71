-- Ties every issued credential to the account state that was verified, and counts failed logins
-- per account and per source address.

-- A user's token generation moves on whenever everything issued before must die (password
-- change, disabling, user-wide revocation). A session records the generation it was created
-- under and is live only while the two are equal: unlike comparing timestamps, this cannot be
-- raced by a login whose statement started before the cut-off and committed after it.
ALTER TABLE users ADD COLUMN token_generation bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN user_generation bigint NOT NULL DEFAULT 0;

-- Sessions that the old timestamp rule already treated as cut off stay dead.
UPDATE sessions s SET revoked_at = now(), revoked_reason = 'user_cutoff'
FROM users u
WHERE u.id = s.user_id AND s.revoked_at IS NULL
  AND u.tokens_valid_after IS NOT NULL AND s.created_at <= u.tokens_valid_after;

CREATE TRIGGER users_generation_changed AFTER UPDATE OF token_generation ON users
    FOR EACH ROW WHEN (OLD.token_generation IS DISTINCT FROM NEW.token_generation)
    EXECUTE FUNCTION signet_notify_change();

-- Failed logins per account and source address (IPv4 address or IPv6 /64). The account-wide
-- count stays in users.failed_login_count / locked_until with its own, looser threshold, so an
-- attacker's failures from one address do not lock the owner out of every other address.
CREATE TABLE login_failures (
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source          text        NOT NULL,
    failures        integer     NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, source),
    CONSTRAINT login_failures_source_length CHECK (source <> '' AND octet_length(source) <= 64),
    CONSTRAINT login_failures_nonnegative CHECK (failures >= 0)
);
CREATE INDEX login_failures_updated_at_idx ON login_failures (updated_at);

-- The back-off after `over` failures beyond a threshold: base · 2^over seconds, at most maximum.
CREATE FUNCTION login_backoff(over integer, base_seconds double precision, max_seconds double precision)
RETURNS interval LANGUAGE sql IMMUTABLE AS $fn$
    SELECT make_interval(secs => least(max_seconds, base_seconds * power(2, least(greatest(over, 0), 30))))
$fn$;

-- Reserves a login attempt before the password is hashed. The user row is locked, so attempts on
-- one account are admitted one at a time: an attempt is admitted only while neither the account
-- nor its source is locked, and an admitted attempt is counted as a failure at once (the success
-- statement clears it). The attempt that reaches a threshold sets the lock itself, so at most
-- `threshold` attempts per source are ever evaluated, however many arrive together, and attempts
-- refused while a lock is in force do not extend it. Returns nothing for an unknown username.
CREATE FUNCTION login_attempt_begin(
    p_username text, p_source text, p_threshold integer, p_account_threshold integer,
    p_base_seconds double precision, p_max_seconds double precision)
RETURNS TABLE (
    id uuid, username text, email text, roles text[], disabled boolean, created_at timestamptz,
    password_hash text, token_generation bigint, admitted boolean,
    source_lock timestamptz, account_lock timestamptz)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_user users%ROWTYPE;
    v_source_lock timestamptz;
    v_account_lock timestamptz;
BEGIN
    SELECT * INTO v_user FROM users u WHERE u.username = p_username FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT f.locked_until INTO v_source_lock FROM login_failures f
    WHERE f.user_id = v_user.id AND f.source = p_source;
    IF v_user.locked_until > now() OR v_source_lock > now() THEN
        RETURN QUERY SELECT v_user.id, v_user.username, v_user.email, v_user.roles, v_user.disabled,
            v_user.created_at, v_user.password_hash, v_user.token_generation, false,
            NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    UPDATE users u SET failed_login_count = u.failed_login_count + 1, last_failed_login_at = now(),
        locked_until = CASE WHEN u.failed_login_count + 1 >= p_account_threshold
            THEN now() + login_backoff(u.failed_login_count + 1 - p_account_threshold, p_base_seconds, p_max_seconds)
            END
    WHERE u.id = v_user.id
    RETURNING u.locked_until INTO v_account_lock;
    INSERT INTO login_failures AS f (user_id, source, failures, locked_until, updated_at)
    VALUES (v_user.id, p_source, 1,
            CASE WHEN 1 >= p_threshold THEN now() + login_backoff(1 - p_threshold, p_base_seconds, p_max_seconds) END,
            now())
    ON CONFLICT (user_id, source) DO UPDATE SET failures = f.failures + 1, updated_at = now(),
        locked_until = CASE WHEN f.failures + 1 >= p_threshold
            THEN now() + login_backoff(f.failures + 1 - p_threshold, p_base_seconds, p_max_seconds)
            END
    RETURNING f.locked_until INTO v_source_lock;
    RETURN QUERY SELECT v_user.id, v_user.username, v_user.email, v_user.roles, v_user.disabled,
        v_user.created_at, v_user.password_hash, v_user.token_generation, true,
        v_source_lock, v_account_lock;
END
$fn$;
