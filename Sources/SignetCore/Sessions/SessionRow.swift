import Foundation
import PostgresNIO

/// A row of `sessions` as every statement of ``SessionStore`` reads it: the statement selects
/// ``columns`` (of the session aliased `s`), plus whatever else it needs under its own names.
struct SessionRow: Sendable {
    static let columns = "s.id, s.user_id, s.client_id, s.scope, s.auth_time, s.created_at, s.last_used_at, s.expires_at, s.refresh_counter, s.browser_session_id, s.amr, s.acr, s.dpop_jkt"

    var id: UUID
    var userID: UUID
    var clientID: String
    var scope: String
    var authTime: Date
    var createdAt: Date
    var lastUsedAt: Date
    var expiresAt: Date
    var refreshCounter: Int64
    /// The browser sign-in this family was started from (code flow), if any.
    var browserSessionID: UUID?
    var amr: [String]
    var acr: String
    /// The DPoP key a public client's family is bound to (RFC 9449 §5).
    var dpopJKT: String?

    init(_ cells: PostgresRandomAccessRow) throws {
        id = try cells["id"].decode(UUID.self)
        userID = try cells["user_id"].decode(UUID.self)
        clientID = try cells["client_id"].decode(String.self)
        scope = try cells["scope"].decode(String.self)
        authTime = try cells["auth_time"].decode(Date.self)
        createdAt = try cells["created_at"].decode(Date.self)
        lastUsedAt = try cells["last_used_at"].decode(Date.self)
        expiresAt = try cells["expires_at"].decode(Date.self)
        refreshCounter = try cells["refresh_counter"].decode(Int64.self)
        browserSessionID = try cells["browser_session_id"].decode(UUID?.self)
        amr = try cells["amr"].decode([String].self)
        acr = try cells["acr"].decode(String.self)
        dpopJKT = try cells["dpop_jkt"].decode(String?.self)
    }

    /// What an access token minted now needs: this session with its user's `roles`.
    func grant(roles: [String]) -> SessionGrant {
        SessionGrant(
            sessionID: id, userID: userID, clientID: clientID, scope: scope, authTime: authTime, roles: roles, counter: refreshCounter,
            browserSessionID: browserSessionID, amr: amr, acr: acr)
    }
}
