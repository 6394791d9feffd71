import Foundation
import Logging
import PostgresNIO

/// An account as the rest of Signet sees it. Deliberately carries no password hash.
public struct User: Sendable, Equatable, Codable {
    public var id: UUID
    public var username: String
    public var email: String?
    public var roles: [String]
    public var disabled: Bool
    public var createdAt: Date
}

/// The stored credential of an account, read only by the login path.
public struct StoredCredential: Sendable {
    public var user: User
    public var passwordHash: String
    /// Tokens issued before this instant are no longer valid (password change, user-wide revocation).
    public var tokensValidAfter: Date?
    /// Failed logins in a row, and until when logins are refused because of them.
    public var failedLogins: Int
    public var lockedUntil: Date?
}

public enum UserStoreError: Error, Equatable {
    case usernameTaken
    case notFound
}

/// The `users` table. Usernames arrive already normalized (``Username``).
public struct UserStore: Sendable {
    let client: Database
    let logger: Logger

    public init(database: Database) {
        client = database
        logger = database.logger
    }

    public func create(username: Username, email: String?, passwordHash: String, roles: [String]) async throws -> User {
        do {
            let rows = try await client.query(
                """
                INSERT INTO users (username, email, password_hash, roles)
                VALUES (\(username.value), \(email), \(passwordHash), \(roles))
                RETURNING id, username, email, roles, disabled, created_at
                """, logger: logger)
            return try await Self.one(rows)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw UserStoreError.usernameTaken
        }
    }

    public func find(id: UUID) async throws -> User? {
        let rows = try await client.query(
            "SELECT id, username, email, roles, disabled, created_at FROM users WHERE id = \(id)", logger: logger)
        return try await Self.first(rows)
    }

    public func find(username: Username) async throws -> User? {
        let rows = try await client.query(
            "SELECT id, username, email, roles, disabled, created_at FROM users WHERE username = \(username.value)",
            logger: logger)
        return try await Self.first(rows)
    }

    /// The account and its hash for a login attempt, or `nil` for an unknown username.
    public func credential(username: Username) async throws -> StoredCredential? {
        let rows = try await client.query(
            """
            SELECT id, username, email, roles, disabled, created_at, password_hash, tokens_valid_after,
                   failed_login_count, CASE WHEN locked_until > now() THEN locked_until END
            FROM users WHERE username = \(username.value)
            """, logger: logger)
        for try await (id, name, email, roles, disabled, created, hash, validAfter, failures, lockedUntil) in rows.decode(
            (UUID, String, String?, [String], Bool, Date, String, Date?, Int, Date?).self)
        {
            return StoredCredential(
                user: User(id: id, username: name, email: email, roles: roles, disabled: disabled, createdAt: created),
                passwordHash: hash, tokensValidAfter: validAfter, failedLogins: failures, lockedUntil: lockedUntil)
        }
        return nil
    }

    /// Counts a failed login against `username` (if such a user exists) and records `event`, in one
    /// statement whatever the outcome, so unknown and known names cost the same. From `threshold`
    /// failures on, logins are refused for `base · 2^(failures − threshold)` seconds, at most `maximum`.
    public func recordFailedLogin(username: String, lockout: Settings.Lockout, event: AuditEvent) async throws {
        try await client.query(
            """
            WITH failed AS (
                UPDATE users SET failed_login_count = failed_login_count + 1, last_failed_login_at = now(),
                    locked_until = CASE WHEN failed_login_count + 1 >= \(lockout.threshold)
                        THEN now() + make_interval(secs => least(\(Double(lockout.maximumSeconds)),
                            \(Double(lockout.baseSeconds)) * power(2, least(failed_login_count + 1 - \(lockout.threshold), 30))))
                        ELSE locked_until END
                WHERE username = \(username)
                RETURNING id
            )
            INSERT INTO audit_events (type, user_id, client_id, remote_addr, detail)
            VALUES (\(event.type), (SELECT id FROM failed), \(event.clientID), \(event.remoteAddress), \(event.detailJSON)::jsonb)
            """, logger: logger)
    }

    /// Clears the failure count after a successful login.
    public func resetFailedLogins(id: UUID) async throws {
        try await client.query(
            "UPDATE users SET failed_login_count = 0, locked_until = NULL WHERE id = \(id)", logger: logger)
    }

    /// Accounts ordered by username, `limit` at a time after `after` (keyset pagination).
    public func list(after: String? = nil, limit: Int = 100) async throws -> [User] {
        let rows = try await client.query(
            """
            SELECT id, username, email, roles, disabled, created_at FROM users
            WHERE username > \(after ?? "")
            ORDER BY username LIMIT \(limit)
            """, logger: logger)
        var users: [User] = []
        for try await user in Self.decode(rows) { users.append(user) }
        return users
    }

    /// Sets a new password hash and ends every token and session issued before now.
    public func setPassword(id: UUID, passwordHash: String) async throws {
        try await updateOne(
            """
            WITH changed AS (
                UPDATE users SET password_hash = \(passwordHash), tokens_valid_after = now(), updated_at = now()
                WHERE id = \(id) RETURNING id
            ), ended AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = 'password_changed'
                WHERE user_id IN (SELECT id FROM changed) AND revoked_at IS NULL
            )
            SELECT id FROM changed
            """)
        await client.changes.changed(.users)
    }

    /// Replaces the user's roles. Access tokens already issued keep the old roles until they expire.
    public func setRoles(id: UUID, _ roles: [String]) async throws {
        try await updateOne("UPDATE users SET roles = \(roles), updated_at = now() WHERE id = \(id) RETURNING id")
    }

    /// Deletes the account; its sessions go with it (foreign key cascade). Whether it existed.
    public func delete(id: UUID) async throws -> Bool {
        let rows = try await client.query("DELETE FROM users WHERE id = \(id) RETURNING id", logger: logger)
        for try await _ in rows {
            await client.changes.changed(.users)
            return true
        }
        return false
    }

    /// Replaces a hash made with outdated parameters, only if it is still the one that was verified
    /// (a concurrent password change wins). Does not end any token: the password is the same.
    public func upgradeHash(id: UUID, from oldHash: String, to newHash: String) async throws {
        try await client.query(
            "UPDATE users SET password_hash = \(newHash) WHERE id = \(id) AND password_hash = \(oldHash)",
            logger: logger)
    }

    /// Disables (ending every token and session issued before now) or re-enables an account.
    public func setDisabled(id: UUID, _ disabled: Bool) async throws {
        try await updateOne(
            """
            WITH changed AS (
                UPDATE users SET disabled = \(disabled), updated_at = now(),
                    tokens_valid_after = CASE WHEN \(disabled) THEN now() ELSE tokens_valid_after END
                WHERE id = \(id) RETURNING id
            ), ended AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = 'user_disabled'
                WHERE \(disabled) AND user_id IN (SELECT id FROM changed) AND revoked_at IS NULL
            )
            SELECT id FROM changed
            """)
        await client.changes.changed(.users)
    }

    private func updateOne(_ query: PostgresQuery) async throws {
        let rows = try await client.query(query, logger: logger)
        for try await _ in rows { return }
        throw UserStoreError.notFound
    }

    private static func decode(_ rows: PostgresRowSequence) -> some AsyncSequence<User, any Error> {
        rows.decode((UUID, String, String?, [String], Bool, Date).self).map { id, name, email, roles, disabled, created in
            User(id: id, username: name, email: email, roles: roles, disabled: disabled, createdAt: created)
        }
    }

    private static func first(_ rows: PostgresRowSequence) async throws -> User? {
        for try await user in decode(rows) { return user }
        return nil
    }

    private static func one(_ rows: PostgresRowSequence) async throws -> User {
        guard let user = try await first(rows) else { throw UserStoreError.notFound }
        return user
    }
}
