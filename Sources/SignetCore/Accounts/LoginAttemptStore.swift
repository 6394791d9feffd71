import Foundation
import Logging
import PostgresNIO

/// Reserves, fails and completes password logins (`login_attempt_begin` in migration 0003 and
/// the statements below). Failures are counted per account and per source address.
public struct LoginAttemptStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// Reserves an attempt on `username` from `source`; `nil` for an unknown username.
    public func begin(username: String, source: String, lockout: Settings.Lockout) async throws -> LoginAttempt? {
        let rows = try await database.query(
            """
            SELECT id, username, email, roles, disabled, created_at, password_hash, token_generation, admitted,
                   source_lock, account_lock, EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = a.id)
            FROM login_attempt_begin(\(username), \(source), \(lockout.threshold)::int, \(lockout.accountThreshold)::int,
                                     \(Double(lockout.baseSeconds)), \(Double(lockout.maximumSeconds))) a
            """, logger: logger)
        for try await (id, name, email, roles, disabled, created, hash, generation, admitted, sourceLock, accountLock, hasTOTP)
            in rows.decode((UUID, String, String?, [String], Bool, Date, String, Int64, Bool, Date?, Date?, Bool).self)
        {
            return LoginAttempt(
                user: User(id: id, username: name, email: email, roles: roles, disabled: disabled, createdAt: created),
                admitted: admitted, passwordHash: hash, generation: generation, source: source,
                sourceLock: sourceLock, accountLock: accountLock, hasTOTP: hasTOTP)
        }
        return nil
    }

    /// Completes a verified attempt: only if the user still has the verified hash, generation and
    /// roles, is enabled, and neither the account nor the source was locked by another attempt.
    /// Then clears the failure counts, creates `session` (if any) under the verified generation
    /// and records `event` — all in one statement. `browserSession` (a browser sign-in) is
    /// created the same way, or — for a step-up — the live session it names is raised to its
    /// methods and level under a new cookie secret. Whether it succeeded.
    public func complete(
        _ attempt: LoginAttempt, session: NewSession?, browserSession: NewBrowserSession? = nil, event: AuditEvent
    ) async throws -> Bool {
        let session = session.map { [$0] } ?? []
        let rows = try await database.query(
            """
            WITH verified AS (
                UPDATE users u SET failed_login_count = 0, locked_until = NULL
                WHERE u.id = \(attempt.user.id) AND u.password_hash = \(attempt.passwordHash)
                  AND u.token_generation = \(attempt.generation) AND u.roles = \(attempt.user.roles) AND NOT u.disabled
                  AND (u.locked_until IS NULL OR u.locked_until <= now() OR u.locked_until = \(attempt.accountLock))
                  AND NOT EXISTS (
                      SELECT 1 FROM login_failures f
                      WHERE f.user_id = u.id AND f.source = \(attempt.source) AND f.locked_until > now()
                        AND f.locked_until IS DISTINCT FROM \(attempt.sourceLock))
                RETURNING u.id, u.token_generation
            ), cleared AS (
                DELETE FROM login_failures WHERE user_id IN (SELECT id FROM verified) AND source = \(attempt.source)
            ), created AS (
                INSERT INTO sessions (id, user_id, client_id, scope, auth_time, created_at, last_used_at, expires_at, user_generation,
                                      amr, acr, dpop_jkt)
                SELECT \(session.first?.id), v.id, \(session.first?.clientID), \(session.first?.scope), \(session.first?.authTime),
                       now(), now(), now() + make_interval(secs => \(session.first?.absoluteLifetime ?? 0)), v.token_generation,
                       \(session.first?.amr ?? []), \(session.first?.acr ?? "1"), \(session.first?.dpopJKT)
                FROM verified v WHERE \(!session.isEmpty)
                RETURNING id
            ), browser AS (
                INSERT INTO browser_sessions (id, secret_hash, user_id, user_generation, auth_time, amr, acr, expires_at)
                SELECT \(browserSession?.id), \(browserSession?.secret.hash), v.id, v.token_generation, \(browserSession?.authTime),
                       \(browserSession?.amr ?? []), \(browserSession?.acr ?? "1"),
                       now() + make_interval(secs => \(browserSession?.absoluteLifetime ?? 0)::int)
                FROM verified v WHERE \(browserSession != nil && browserSession?.raising == nil)
                RETURNING id
            ), raised AS (
                UPDATE browser_sessions b
                SET secret_hash = \(browserSession?.secret.hash), amr = \(browserSession?.amr ?? []), acr = \(browserSession?.acr ?? "1"),
                    last_seen_at = now()
                FROM verified v
                WHERE b.id = \(browserSession?.raising) AND b.user_id = v.id AND b.revoked_at IS NULL
                  AND b.user_generation = v.token_generation AND b.expires_at > now()
                RETURNING b.id
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), id, \(event.clientID), \(session.first?.id ?? browserSession?.id), \(event.remoteAddress),
                       \(event.detailJSON)::jsonb
                FROM verified
            )
            SELECT id FROM verified
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Takes back the failure an admitted attempt was counted as when it was reserved, for an
    /// attempt that was never judged (the server gave up on it: cancelled at its deadline, the
    /// hashing pool or the database unavailable). A lock this attempt's own reservation set is
    /// lifted with it; a lock set by any other attempt stays.
    public func release(_ attempt: LoginAttempt) async throws {
        let rows = try await database.query(
            """
            WITH account AS (
                UPDATE users SET failed_login_count = greatest(failed_login_count - 1, 0),
                    locked_until = CASE WHEN locked_until = \(attempt.accountLock) THEN NULL ELSE locked_until END
                WHERE id = \(attempt.user.id)
            )
            UPDATE login_failures SET failures = greatest(failures - 1, 0),
                locked_until = CASE WHEN locked_until = \(attempt.sourceLock) THEN NULL ELSE locked_until END
            WHERE user_id = \(attempt.user.id) AND source = \(attempt.source)
            """, logger: logger)
        for try await _ in rows {}
    }

    /// Replaces a hash made with outdated parameters, only if it is still the one that was verified
    /// (a concurrent password change wins). Does not end any token: the password is the same.
    public func upgradeHash(of attempt: inout LoginAttempt, to newHash: String) async throws {
        let rows = try await database.query(
            """
            UPDATE users SET password_hash = \(newHash)
            WHERE id = \(attempt.user.id) AND password_hash = \(attempt.passwordHash) RETURNING id
            """, logger: logger)
        for try await _ in rows { attempt.passwordHash = newHash }
    }
}
