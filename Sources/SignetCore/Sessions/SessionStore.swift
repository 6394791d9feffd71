import Foundation
import Logging
import PostgresNIO

/// The `sessions` table: one row per login, which is one refresh-token family.
public struct SessionStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// The one definition of "nothing has ended this session": not revoked, its user enabled and
    /// still in the token generation the session was created under (a password change, disabling
    /// or user-wide revocation moves it on). `s` is the session, `u` its user. Access tokens of
    /// the session are live while this holds.
    static let notEnded = "s.revoked_at IS NULL AND NOT u.disabled AND s.user_generation = u.token_generation"

    /// ``notEnded`` and within both lifetimes: the session's refresh token can be used.
    static func refreshable(idleSeconds: Int) -> String {
        "\(notEnded) AND s.expires_at > now() AND s.last_used_at > now() - make_interval(secs => \(idleSeconds))"
    }

    /// The outcome of presenting refresh token (session, counter).
    public enum Rotation: Sendable, Equatable {
        /// The counter advanced; hand out the token with `grant.counter`.
        case rotated(SessionGrant)
        /// The immediate parent came back within the grace window: hand out the same successor again.
        case graceReplay(SessionGrant)
        /// An already-spent token: the whole session has just been revoked.
        case reused(userID: UUID, clientID: String)
        /// Unknown, foreign, expired, idle, revoked, or its user is disabled or cut off.
        case invalid(String)
    }

    /// Rotates a refresh token. The common case is a single statement: advance the counter from
    /// the presented value if the session and its user are live, and audit it. Only when that
    /// matches nothing does a second look decide between grace replay, reuse and plain refusal.
    public func rotate(
        sessionID: UUID, presentedCounter: Int64, clientID: String, idleLifetime: Int, graceSeconds: Int,
        dpopJKT: String? = nil, origin: RequestOrigin
    ) async throws -> Rotation {
        let rotated = try await database.execute(RotationStatement(
            sessionID: sessionID, presentedCounter: presentedCounter, clientID: clientID, idleSeconds: idleLifetime,
            dpopJKT: dpopJKT, remoteAddress: origin.remoteAddress), logger: logger)
        for try await grant in rotated {
            return .rotated(grant)
        }
        return try await diagnose(
            sessionID: sessionID, presentedCounter: presentedCounter, clientID: clientID, idleLifetime: idleLifetime,
            graceSeconds: graceSeconds, dpopJKT: dpopJKT, origin: origin)
    }

    private func diagnose(
        sessionID: UUID, presentedCounter: Int64, clientID: String, idleLifetime: Int, graceSeconds: Int,
        dpopJKT: String?, origin: RequestOrigin
    ) async throws -> Rotation {
        let rows = try await database.query(
            """
            SELECT \(unescaped: SessionRow.columns), u.roles,
                   \(unescaped: Self.refreshable(idleSeconds: idleLifetime)) AS live,
                   coalesce(s.last_refreshed_at > now() - make_interval(secs => \(graceSeconds)), false) AS in_grace
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = \(sessionID)
            """, logger: logger)
        for try await row in rows {
            let cells = row.makeRandomAccess()
            let session = try SessionRow(cells), roles = try cells["roles"].decode([String].self)
            let live = try cells["live"].decode(Bool.self), inGrace = try cells["in_grace"].decode(Bool.self)
            let userID = session.userID, stored = session.refreshCounter
            guard session.clientID == clientID else { return .invalid("refresh token was issued to another client") }
            guard live else { return .invalid("session has ended") }
            if let bound = session.dpopJKT, bound != dpopJKT {
                return .invalid("refresh token is bound to a DPoP key; send a DPoP proof signed by that key")
            }
            if presentedCounter > stored { return .invalid("refresh token is not valid") }
            if presentedCounter == stored { return .invalid("refresh token could not be rotated; retry") }
            if presentedCounter == stored - 1 && graceSeconds > 0 && inGrace {
                try await AuditLog(database: database).record(AuditEvent(
                    "token_refreshed", userID: userID, clientID: clientID, sessionID: sessionID,
                    remoteAddress: origin.remoteAddress, detail: ["grace_replay": "true"]))
                return .graceReplay(session.grant(roles: roles))
            }
            try await revoke(sessionID: sessionID, reason: "refresh_token_reused", event: AuditEvent(
                "refresh_token_reused", userID: userID, clientID: clientID, sessionID: sessionID,
                remoteAddress: origin.remoteAddress,
                detail: ["presented_counter": "\(presentedCounter)", "current_counter": "\(stored)"]))
            return .reused(userID: userID, clientID: clientID)
        }
        return .invalid("refresh token is not valid")
    }

    /// Ends a session (if it is still live) and records `event` in the same statement.
    /// Whether this call ended it.
    @discardableResult
    public func revoke(sessionID: UUID, reason: String, event: AuditEvent) async throws -> Bool {
        try await database.changed(
            .sessions,
            by:
            """
            WITH revoked AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = \(reason)
                WHERE id = \(sessionID) AND revoked_at IS NULL
                RETURNING id
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), \(event.userID), \(event.clientID), id, \(event.remoteAddress), \(event.detailJSON)::jsonb
                FROM revoked
            )
            SELECT id FROM revoked
            """, logger: logger)
    }

    /// The user's sessions that can still be refreshed, newest first.
    public func live(userID: UUID, idleLifetime: Int) async throws -> [SessionSummary] {
        let rows = try await database.query(
            """
            SELECT \(unescaped: SessionRow.columns)
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.user_id = \(userID) AND \(unescaped: Self.refreshable(idleSeconds: idleLifetime))
            ORDER BY s.created_at DESC
            """, logger: logger)
        var sessions: [SessionSummary] = []
        for try await row in rows {
            let session = try SessionRow(row.makeRandomAccess())
            sessions.append(SessionSummary(
                id: session.id, clientID: session.clientID, scope: session.scope, createdAt: session.createdAt,
                lastUsedAt: session.lastUsedAt, expiresAt: session.expiresAt))
        }
        return sessions
    }
}

extension SessionStore {
    /// A session as seen through its current refresh token.
    public struct Current: Sendable, Equatable {
        public var userID: UUID
        public var clientID: String
        public var scope: String
        public var createdAt: Date
        public var expiresAt: Date
        public var authTime: Date
        public var amr: [String]
        public var acr: String
    }

    /// The session if it is live and `counter` is its current (unspent) refresh token.
    public func current(sessionID: UUID, counter: Int64, idleLifetime: Int) async throws -> Current? {
        let rows = try await database.query(
            """
            SELECT \(unescaped: SessionRow.columns)
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = \(sessionID) AND s.refresh_counter = \(counter)
              AND \(unescaped: Self.refreshable(idleSeconds: idleLifetime))
            """, logger: logger)
        for try await row in rows {
            let session = try SessionRow(row.makeRandomAccess())
            return Current(
                userID: session.userID, clientID: session.clientID, scope: session.scope, createdAt: session.createdAt,
                expiresAt: session.expiresAt, authTime: session.authTime, amr: session.amr, acr: session.acr)
        }
        return nil
    }

    /// The owner of a session (live or not), or nil if there is no such session.
    public func owner(sessionID: UUID) async throws -> (userID: UUID, clientID: String)? {
        let rows = try await database.query(
            "SELECT \(unescaped: SessionRow.columns) FROM sessions s WHERE s.id = \(sessionID)", logger: logger)
        for try await row in rows {
            let session = try SessionRow(row.makeRandomAccess())
            return (session.userID, session.clientID)
        }
        return nil
    }
}
