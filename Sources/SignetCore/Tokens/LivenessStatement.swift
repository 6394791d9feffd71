import Foundation
import PostgresNIO

/// "Does nothing on the revocation list cover this access token?" (see ``TokenVerifier``) as a
/// named prepared statement, parsed and planned once per pooled connection.
///
/// Every token needs its client; a user's token also its user (enabled, and for a token without
/// a session not cut off: whole-second `iat`, so the cut-off's own second counts as before it); a
/// session's token its session, not ended (``SessionStore/notEnded``) — a refresh family, or for
/// the code flow the browser session (``BrowserSessionStore/notEnded``) together with the
/// client's refresh family from it (revoking that family, e.g. with RFC 7009, ends the access
/// tokens too, as it does for the password grant's).
struct LivenessStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)
          AND EXISTS (SELECT 1 FROM clients WHERE client_id = $2)
          AND ($3::uuid IS NULL OR EXISTS (
                SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
                WHERE s.id = $3 AND s.user_id = $4 AND s.client_id = $2
                  AND \(SessionStore.notEnded)) OR EXISTS (
                SELECT 1 FROM browser_sessions b JOIN users u ON u.id = b.user_id
                WHERE b.id = $3 AND b.user_id = $4 AND \(BrowserSessionStore.notEnded)
                  AND (NOT EXISTS (SELECT 1 FROM sessions f WHERE f.browser_session_id = b.id AND f.client_id = $2)
                       OR EXISTS (SELECT 1 FROM sessions f WHERE f.browser_session_id = b.id AND f.client_id = $2
                                    AND f.revoked_at IS NULL))))
          AND ($4::uuid IS NULL OR EXISTS (
                SELECT 1 FROM users u WHERE u.id = $4 AND NOT u.disabled
                  AND ($3::uuid IS NOT NULL OR u.tokens_valid_after IS NULL
                       OR to_timestamp($5) > date_trunc('second', u.tokens_valid_after))))
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .uuid, .uuid, .int8]

    typealias Row = Bool

    var jti: String
    var clientID: String
    var sessionID: UUID?
    var userID: UUID?
    var issuedAt: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(jti)
        bindings.append(clientID)
        bindings.append(sessionID)
        bindings.append(userID)
        bindings.append(Int64(issuedAt))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Bool {
        try row.decode(Bool.self)
    }
}
