import Foundation
import Logging
import PostgresNIO

/// The `users` table. Usernames arrive already normalized (``Username``).
public struct UserStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// The one definition of "end everything issued to this user until now" (password change,
    /// disabling, user-wide revocation), as `SET` assignments on `users`. Sessions die because
    /// the generation moves on (they are live only under the generation they were created in);
    /// session-less access tokens die by `iat` against `tokens_valid_after`. `clock_timestamp()`,
    /// not `now()`: evaluated when the row is written, after any login holding it has committed.
    static let cutOff = "tokens_valid_after = clock_timestamp(), token_generation = token_generation + 1"

    public func create(username: Username, email: String?, passwordHash: String, roles: [String]) async throws -> User {
        do {
            let rows = try await database.query(
                """
                INSERT INTO users (username, email, password_hash, roles)
                VALUES (\(username.value), \(email), \(passwordHash), \(roles))
                RETURNING id, username, email, roles, disabled, created_at
                """, logger: logger)
            return try await Self.one(rows)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw SignetError.usernameTaken
        }
    }

    public func find(id: UUID) async throws -> User? {
        let rows = try await database.query(
            "SELECT id, username, email, roles, disabled, created_at FROM users WHERE id = \(id)", logger: logger)
        return try await Self.first(rows)
    }

    public func find(username: Username) async throws -> User? {
        let rows = try await database.query(
            "SELECT id, username, email, roles, disabled, created_at FROM users WHERE username = \(username.value)",
            logger: logger)
        return try await Self.first(rows)
    }

    /// Accounts ordered by username, `limit` at a time after `after` (keyset pagination).
    public func list(after: String? = nil, limit: Int = 100) async throws -> [User] {
        let rows = try await database.query(
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
                UPDATE users SET password_hash = \(passwordHash), \(unescaped: Self.cutOff), updated_at = now()
                WHERE id = \(id) RETURNING id
            ), ended AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = 'password_changed'
                WHERE user_id IN (SELECT id FROM changed) AND revoked_at IS NULL
            )
            SELECT id FROM changed
            """)
        await database.changes.changed(.users)
    }

    /// Replaces the user's roles. Access tokens already issued keep the old roles until they expire.
    public func setRoles(id: UUID, _ roles: [String]) async throws {
        try await updateOne("UPDATE users SET roles = \(roles), updated_at = now() WHERE id = \(id) RETURNING id")
    }

    /// Deletes the account; its sessions go with it (foreign key cascade). Whether it existed.
    public func delete(id: UUID) async throws -> Bool {
        try await database.changed(.users, by: "DELETE FROM users WHERE id = \(id) RETURNING id", logger: logger)
    }

    /// Disables (ending every token and session issued before now) or re-enables an account.
    public func setDisabled(id: UUID, _ disabled: Bool) async throws {
        try await updateOne(
            """
            WITH changed AS (
                UPDATE users SET disabled = \(disabled), updated_at = now()\(unescaped: disabled ? ", " + Self.cutOff : "")
                WHERE id = \(id) RETURNING id
            ), ended AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = 'user_disabled'
                WHERE \(disabled) AND user_id IN (SELECT id FROM changed) AND revoked_at IS NULL
            )
            SELECT id FROM changed
            """)
        await database.changes.changed(.users)
    }

    private func updateOne(_ query: PostgresQuery) async throws {
        let rows = try await database.query(query, logger: logger)
        for try await _ in rows { return }
        throw SignetError.userNotFound
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
        guard let user = try await first(rows) else { throw SignetError.userNotFound }
        return user
    }
}
