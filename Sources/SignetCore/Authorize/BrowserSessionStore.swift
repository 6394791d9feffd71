import Foundation
import Logging
import PostgresNIO

/// The `browser_sessions` table: signed-in browsers (single sign-on). Created by the login's
/// completing statement (``LoginAttemptStore``); looked up by the hash of the cookie's secret.
public struct BrowserSessionStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// "Nothing has ended this browser session": not revoked, its user enabled and still in the
    /// generation it was created under, within its absolute lifetime. `b` is the session, `u` its user.
    static let notEnded = "b.revoked_at IS NULL AND NOT u.disabled AND b.user_generation = u.token_generation AND b.expires_at > now()"

    /// ``notEnded`` and used within the idle lifetime.
    static func live(idleSeconds: Int) -> String {
        "\(notEnded) AND b.last_seen_at > now() - make_interval(secs => \(idleSeconds))"
    }

    /// The live session whose cookie secret is `secret`, with the scopes its user consented to
    /// for `clientID`; one statement.
    public func find(secret: SecretToken, clientID: String?, idleSeconds: Int) async throws -> BrowserSession? {
        let rows = try await database.query(
            """
            SELECT b.id, b.auth_time, b.amr, b.acr, u.id, u.username, u.email, u.roles, u.disabled, u.created_at,
                   coalesce((SELECT c.scopes FROM consents c WHERE c.user_id = u.id AND c.client_id = \(clientID)), '{}')
            FROM browser_sessions b JOIN users u ON u.id = b.user_id
            WHERE b.secret_hash = \(secret.hash) AND \(unescaped: Self.live(idleSeconds: idleSeconds))
            """, logger: logger)
        for try await (id, authTime, amr, acr, userID, username, email, roles, disabled, created, consented) in rows.decode(
            (UUID, Date, [String], String, UUID, String, String?, [String], Bool, Date, [String]).self)
        {
            return BrowserSession(
                id: id, user: User(id: userID, username: username, email: email, roles: roles, disabled: disabled, createdAt: created),
                authTime: authTime, amr: amr, acr: acr, consentedScopes: consented)
        }
        return nil
    }

    /// The owner of a browser session (live or not), or nil if there is none.
    public func owner(id: UUID) async throws -> UUID? {
        let rows = try await database.query("SELECT user_id FROM browser_sessions WHERE id = \(id)", logger: logger)
        for try await userID in rows.decode(UUID.self) { return userID }
        return nil
    }

    /// Ends a browser session and every refresh family started from it, and records `event`, in
    /// one statement. Whether this call ended it.
    @discardableResult
    public func end(id: UUID, reason: String, event: AuditEvent) async throws -> Bool {
        try await database.changed(
            .browserSessions,
            by:
            """
            WITH ended AS (
                UPDATE browser_sessions SET revoked_at = now(), revoked_reason = \(reason)
                WHERE id = \(id) AND revoked_at IS NULL
                RETURNING id, user_id
            ), families AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = \(reason)
                WHERE browser_session_id IN (SELECT id FROM ended) AND revoked_at IS NULL
                RETURNING id
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), user_id, \(event.clientID), id, \(event.remoteAddress),
                       \(event.detailJSON)::jsonb || jsonb_build_object('refresh_families_ended', (SELECT count(*) FROM families)::text)
                FROM ended
            )
            SELECT id FROM ended
            """, logger: logger)
    }

    /// A live browser session as listed to admins.
    public struct Summary: Sendable, Equatable {
        public var id: UUID
        public var authTime: Date
        public var amr: [String]
        public var createdAt: Date
        public var lastSeenAt: Date
        public var expiresAt: Date
    }

    /// The user's live browser sessions, newest first.
    public func live(userID: UUID, idleSeconds: Int) async throws -> [Summary] {
        let rows = try await database.query(
            """
            SELECT b.id, b.auth_time, b.amr, b.created_at, b.last_seen_at, b.expires_at
            FROM browser_sessions b JOIN users u ON u.id = b.user_id
            WHERE b.user_id = \(userID) AND \(unescaped: Self.live(idleSeconds: idleSeconds))
            ORDER BY b.created_at DESC
            """, logger: logger)
        var sessions: [Summary] = []
        for try await (id, authTime, amr, created, seen, expires) in rows.decode((UUID, Date, [String], Date, Date, Date).self) {
            sessions.append(Summary(id: id, authTime: authTime, amr: amr, createdAt: created, lastSeenAt: seen, expiresAt: expires))
        }
        return sessions
    }
}
