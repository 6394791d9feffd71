-- Seeds a Signet database with the volume of a large deployment, straight into the tables
-- (never through the API), for the seeded half of `BENCH_SCALE=1 scripts/bench.sh`:
--
--   users           :users accounts, all with the password hash of the account :'hash_from'
--   clients         :clients applications (web, single-page/mobile and service clients)
--   sessions        :sessions refresh families over those users and clients, a third revoked
--   revoked_tokens  :revoked access-token jtis, none expired yet
--   audit_events    :events events over the last 300 days, ids in time order
--
-- One job per run, so that jobs can run side by side on several connections (scale.sh runs
-- them two at a time): psql -v job=JOB -v users=… -v clients=… -v sessions=… -v revoked=…
-- -v events=… -v hash_from=USERNAME -v id_base=N -f seed-scale.sql, with JOB one of
--   users, clients, sessions, revoked   those rows
--   events:FROM:TO                      audit events FROM..TO (1-based) of :events, with ids
--                                       :id_base + n: the ids stay in time order whichever
--                                       job runs first
--   finish                              the identity sequence of audit_events moved past the
--                                       seeded ids, the references checked, VACUUM (ANALYZE)
--                                       of the seeded tables (the planner learns their sizes,
--                                       and the benchmark does not pay for hint bits or the
--                                       visibility map), CHECKPOINT
--
-- Every row obeys the constraints of Migrations/, and no index or trigger is dropped: the
-- indexes as the migrations define them are what the seeded benchmark measures. Foreign keys
-- are not looked up row by row (session_replication_role = replica skips their triggers; the
-- seeded rows only refer to seeded rows, which `finish` checks with one anti-join per key);
-- Signet is not running meanwhile, so the change notifications skipped with them reach nobody.
-- Ids are derived from row numbers (md5 of a prefix and the number), so rows refer to each
-- other without joins; random() is seeded per job, so two runs of the same size make the same
-- data apart from times relative to now().
\set ON_ERROR_STOP on
\timing on
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET client_min_messages = warning;
SET session_replication_role = replica;
SELECT setseed(abs(hashtext(:'job')) / 2147483648.0) AS seeded \gset
SELECT :'job' = 'users' AS job_users, :'job' = 'clients' AS job_clients, :'job' = 'sessions' AS job_sessions,
       :'job' = 'revoked' AS job_revoked, :'job' LIKE 'events:%' AS job_events, :'job' = 'finish' AS job_finish,
       coalesce(nullif(split_part(:'job', ':', 2), ''), '0')::bigint AS events_from,
       coalesce(nullif(split_part(:'job', ':', 3), ''), '0')::bigint AS events_to \gset
\echo seed-scale.sql: :job

-- Users: scale-user-N, three in four with an e-mail address, created over two years.
\if :job_users
SELECT password_hash AS seed_hash FROM users WHERE username = :'hash_from' \gset
\if :{?seed_hash}
\else
    \warn seed-scale.sql: no user :hash_from to copy the password hash from
    SELECT 1 / 0;
\endif
INSERT INTO users (id, username, email, password_hash, roles, created_at, updated_at)
SELECT md5('signet-scale-user:' || n)::uuid, 'scale-user-' || n,
       CASE WHEN n % 4 <> 0 THEN 'scale-user-' || n || '@example.com' END,
       :'seed_hash', '{user}', created, created
FROM (SELECT n, now() - random() * interval '730 days' AS created FROM generate_series(1, :users) n) u;
\endif

-- Clients: scale-client-N; by N mod 10: 0-6 confidential web applications (code flow and
-- refresh), 7-8 public single-page or mobile applications (code flow with PKCE and refresh),
-- 9 services (client_credentials, with an audience). Secret hashes have the stored form
-- (base64url of 32 bytes) but match no secret.
\if :job_clients
INSERT INTO clients (client_id, client_name, secret_hash, token_endpoint_auth_method, grant_types, scopes, audience,
                     redirect_uris, post_logout_redirect_uris, require_pkce, skip_consent, created_at, updated_at)
SELECT 'scale-client-' || n, 'Scale client ' || n,
       CASE WHEN n % 10 IN (7, 8) THEN NULL
            ELSE rtrim(translate(encode(sha256(('signet-scale-secret:' || n)::bytea), 'base64'), '+/', '-_'), '=') END,
       CASE WHEN n % 10 IN (7, 8) THEN 'none' ELSE 'client_secret_basic' END,
       CASE WHEN n % 10 = 9 THEN '{client_credentials}'::text[] ELSE '{authorization_code,refresh_token}'::text[] END,
       CASE WHEN n % 10 = 9 THEN '{api}'::text[] ELSE '{openid,profile,email}'::text[] END,
       CASE WHEN n % 10 = 9 THEN 'https://api-' || n || '.example.com' END,
       CASE WHEN n % 10 = 9 THEN '{}'::text[] ELSE ARRAY['https://app-' || n || '.example.com/callback'] END,
       CASE WHEN n % 10 = 9 THEN '{}'::text[] ELSE ARRAY['https://app-' || n || '.example.com/'] END,
       true, n % 10 < 3, created, created
FROM (SELECT n, now() - random() * interval '730 days' AS created FROM generate_series(1, :clients) n) c;
\endif

-- Sessions (refresh families) of the last 30 days, so that the live ones have not reached the
-- default absolute lifetime; some are past the idle lifetime. Clients are skewed (a few large
-- applications hold most sessions) and never services. About a third are revoked, at some
-- time after their last use.
\if :job_sessions
INSERT INTO sessions (id, user_id, client_id, scope, auth_time, created_at, last_used_at, expires_at,
                      refresh_counter, last_refreshed_at, revoked_at, revoked_reason, user_generation, amr, acr)
SELECT md5('signet-scale-session:' || n)::uuid, md5('signet-scale-user:' || u)::uuid,
       'scale-client-' || (CASE WHEN c % 10 = 9 THEN c - 1 ELSE c END),
       'openid profile', created, created, used, created + interval '30 days',
       counter, CASE WHEN counter > 0 THEN used END,
       CASE WHEN r < 0.34 THEN used + (now() - used) * random() END,
       CASE WHEN r < 0.34 THEN (ARRAY['logout', 'revoked_by_client', 'refresh_token_reused', 'revoked_by_admin',
                                      'signed_in_again'])[1 + floor(r / 0.34 * 5)::int] END,
       0, CASE WHEN r > 0.95 THEN '{pwd,otp}'::text[] ELSE '{pwd}'::text[] END, CASE WHEN r > 0.95 THEN '2' ELSE '1' END
FROM (
    SELECT n, u, c, r, created, created + (now() - created) * random() AS used, counter
    FROM (SELECT n, 1 + floor(random() * :users)::int AS u, 1 + floor(random() ^ 3 * :clients)::int AS c,
                 random() AS r, now() - random() * interval '30 days' AS created, floor(random() * 40)::bigint AS counter
          FROM generate_series(1, :sessions) n) s0
) s;
\endif

-- Revoked access tokens: jtis of the issued form (base64url of 16 bytes), expiring between one
-- hour and a day from now (clients may have longer access-token lifetimes than the default).
\if :job_revoked
INSERT INTO revoked_tokens (jti, expires_at, revoked_at, session_id, reason)
SELECT rtrim(translate(encode(decode(md5('signet-scale-jti:' || n), 'hex'), 'base64'), '+/', '-_'), '='),
       now() + interval '1 hour' + random() * interval '23 hours', now() - random() * interval '1 hour',
       md5('signet-scale-session:' || (1 + floor(random() * :sessions)::int))::uuid,
       (ARRAY['revoked_by_admin', 'revoked_by_client', 'code_reused'])[1 + n % 3]
FROM generate_series(1, :revoked) n;
\endif

-- Audit events: evenly over the last 300 days in id order, with the mix of types a busy
-- deployment writes (mostly refreshes, logins and codes) and the details the server writes.
-- Users, clients and sessions are the seeded ones; addresses are stable per user.
\if :job_events
INSERT INTO audit_events (id, type, at, user_id, client_id, session_id, remote_addr, detail) OVERRIDING SYSTEM VALUE
SELECT :id_base + n, e.type, now() - (:events - n) * (interval '300 days' / :events),
       CASE WHEN e.type = 'login_failed' AND r < 0.2 THEN NULL
            WHEN e.type IN ('client_created', 'keys_rotated') THEN NULL
            ELSE md5('signet-scale-user:' || u)::uuid END,
       CASE WHEN e.type = 'keys_rotated' THEN NULL ELSE 'scale-client-' || (CASE WHEN c % 10 = 9 THEN c - 1 ELSE c END) END,
       CASE WHEN e.type IN ('token_refreshed', 'login_succeeded', 'code_issued', 'session_revoked', 'refresh_token_reused')
            THEN md5('signet-scale-session:' || s)::uuid END,
       CASE WHEN e.type = 'keys_rotated' THEN NULL ELSE '198.51.' || (u % 256) || '.' || (u / 256 % 254 + 1) END,
       CASE e.type
           WHEN 'login_failed' THEN CASE WHEN r < 0.2 THEN '{"reason": "unknown_user"}'::jsonb
               ELSE jsonb_build_object('reason', 'wrong_password', 'username', 'scale-user-' || u) END
           WHEN 'code_issued' THEN '{"scope": "openid profile"}'::jsonb
           WHEN 'consent_granted' THEN '{"scope": "openid profile email"}'::jsonb
           WHEN 'mfa_verified' THEN '{"method": "totp"}'::jsonb
           WHEN 'session_revoked' THEN '{"via": "refresh_token"}'::jsonb
           WHEN 'refresh_token_reused' THEN '{"current_counter": "7", "presented_counter": "5"}'::jsonb
           WHEN 'user_created' THEN '{"actor": "cli", "roles": "user"}'::jsonb
           WHEN 'access_token_revoked' THEN jsonb_build_object('jti', rtrim(translate(encode(decode(md5('signet-scale-jti:' || n), 'hex'),
                                                                     'base64'), '+/', '-_'), '='))
           WHEN 'keys_rotated' THEN '{"current": "scale-key-1", "next": "scale-key-2"}'::jsonb
           ELSE '{}'::jsonb
       END
FROM (
    SELECT n, u, c, s, r,
           CASE WHEN b < 0.50 THEN 'token_refreshed' WHEN b < 0.68 THEN 'login_succeeded' WHEN b < 0.80 THEN 'code_issued'
                WHEN b < 0.88 THEN 'login_failed' WHEN b < 0.92 THEN 'logout' WHEN b < 0.945 THEN 'mfa_verified'
                WHEN b < 0.965 THEN 'session_revoked' WHEN b < 0.98 THEN 'consent_granted' WHEN b < 0.99 THEN 'user_created'
                WHEN b < 0.995 THEN 'access_token_revoked' WHEN b < 0.998 THEN 'refresh_token_reused'
                WHEN b < 0.9999 THEN 'user_password_changed' WHEN b < 0.99999 THEN 'client_created' ELSE 'keys_rotated' END AS type
    FROM (SELECT n, 1 + floor(random() * :users)::int AS u, 1 + floor(random() ^ 3 * :clients)::int AS c,
                 1 + floor(random() * :sessions)::int AS s, random() AS r, random() AS b
          FROM generate_series(:events_from, :events_to) n) e0
) e;
\endif

\if :job_finish
SELECT setval(pg_get_serial_sequence('audit_events', 'id'), (SELECT max(id) FROM audit_events));
-- The references the skipped foreign-key triggers would have checked.
SELECT count(*) AS dangling, count(*) > 0 AS any_dangling FROM sessions s
WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id)
   OR NOT EXISTS (SELECT 1 FROM clients c WHERE c.client_id = s.client_id) \gset
\if :any_dangling
    \warn seed-scale.sql: :dangling sessions refer to a missing user or client
    SELECT 1 / 0;
\endif
VACUUM (ANALYZE) users, clients, sessions, revoked_tokens, audit_events;
CHECKPOINT;
\endif
