-- Indexes that a database of a million users showed missing (BENCHMARKS.md, seeded database).
-- Each is built with a plain CREATE INDEX: on a large installation, run the migration in a quiet
-- hour (building the sessions index over 2,000,000 rows takes a few seconds and holds writes).

-- Deleting a user cascades to all its sessions, revoked ones included, which the partial indexes on
-- live sessions cannot find: the cascade scanned the whole table. One index on user_id serves both
-- (a user's revoked sessions are few and are swept by retention), and no longer names revoked_at.
-- Neither touches a column the refresh rotation changes, so rotations stay HOT updates.
CREATE INDEX sessions_user_idx ON sessions (user_id);
DROP INDEX sessions_user_live_idx;
CREATE INDEX browser_sessions_user_idx ON browser_sessions (user_id);
DROP INDEX browser_sessions_user_live_idx;

-- The admin list of revoked sessions merges sessions and browser sessions by revocation time.
CREATE INDEX browser_sessions_revoked_at_idx ON browser_sessions (revoked_at DESC) WHERE revoked_at IS NOT NULL;

-- The hourly audit retention looks for events older than the cut-off. Events arrive in time order,
-- so a BRIN index (a few pages for millions of rows) finds them without reading the table.
CREATE INDEX audit_events_at_brin_idx ON audit_events USING brin (at);

-- Which ID-token algorithms code-flow clients ask for, read at start and on every key reload.
CREATE INDEX clients_id_token_alg_idx ON clients (id_token_signed_response_alg)
    WHERE 'authorization_code' = ANY (grant_types);
