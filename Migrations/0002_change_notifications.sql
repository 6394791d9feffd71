-- Every change that invalidates what nodes cache in memory (signing keys, clients, the revocation
-- state of tokens) is announced on the channel signet_<schema>, with the table's name as payload.
-- NOTIFY is delivered at commit, so listeners never see a change that might still roll back.

CREATE FUNCTION signet_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('signet_' || current_schema(), TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION signet_notify_change();

CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION signet_notify_change();

CREATE TRIGGER revoked_tokens_changed AFTER INSERT ON revoked_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION signet_notify_change();

-- Sessions change on every refresh; only their revocation (and removal) matters to caches.
CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION signet_notify_change();
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION signet_notify_change();

-- Users change on every failed login; only what ends their tokens matters to caches.
CREATE TRIGGER users_cut_off AFTER UPDATE OF tokens_valid_after, disabled ON users
    FOR EACH ROW WHEN (OLD.tokens_valid_after IS DISTINCT FROM NEW.tokens_valid_after OR OLD.disabled IS DISTINCT FROM NEW.disabled)
    EXECUTE FUNCTION signet_notify_change();
CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION signet_notify_change();
