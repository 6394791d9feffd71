import Foundation
import PostgresNIO

/// Issuing an authorization code under a live browser session (see
/// ``AuthorizationCodeStore/issue(_:binding:signer:idleSeconds:lifetime:remoteAddress:)``) as a
/// named prepared statement, parsed and planned once per pooled connection: single sign-on is
/// this one statement per authorization request.
struct CodeIssueStatement: PostgresPreparedStatement {
    static let sql = """
        WITH session AS (
            SELECT b.id, b.user_id, b.auth_time, b.amr, b.acr, b.last_seen_at
            FROM browser_sessions b JOIN users u ON u.id = b.user_id
            WHERE (b.id = $1 OR b.secret_hash = $2)
              AND \(BrowserSessionStore.notEnded) AND b.last_seen_at > now() - make_interval(secs => $3)
              AND ($4::text[] IS NULL OR coalesce(
                    (SELECT c.scopes FROM consents c WHERE c.user_id = u.id AND c.client_id = $5), '{}'
                  ) @> $4::text[])
              AND (b.acr = '2' OR NOT ($6 OR u.roles && $7::text[]))
        ), touched AS (
            UPDATE browser_sessions b SET last_seen_at = now()
            FROM session s WHERE b.id = s.id AND s.last_seen_at < now() - interval '30 seconds'
        ), code AS (
            INSERT INTO authorization_codes (code_hash, client_id, user_id, browser_session_id, redirect_uri, code_challenge,
                                             nonce, scope, auth_time, amr, acr, expires_at)
            SELECT $8, $5, user_id, id, $9, $10, $11, $12, auth_time, amr, acr, now() + make_interval(secs => $13)
            FROM session
            RETURNING user_id, browser_session_id
        ), audit AS (
            \(AuditLog.insert)
            SELECT 'code_issued', user_id, $5, browser_session_id, $14, jsonb_build_object('scope', $12::text)
            FROM code
        )
        SELECT user_id FROM code
        """
    static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .bytea, .float8, .textArray, .text, .bool, .textArray, .bytea, .text, .text, .text, .text, .float8, .text,
    ]

    typealias Row = UUID

    var sessionID: UUID?
    var secretHash: Data?
    var idleSeconds: Int
    var consentTo: [String]?
    var anyoneNeedsTwo: Bool
    var rolesNeedingTwo: [String]
    var codeHash: Data
    var binding: AuthorizationCodeStore.Binding
    var lifetime: Int
    var remoteAddress: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 14)
        bindings.append(sessionID)
        try bindings.append(secretHash)
        bindings.append(Double(idleSeconds))
        bindings.append(consentTo)
        bindings.append(binding.clientID)
        bindings.append(anyoneNeedsTwo)
        bindings.append(rolesNeedingTwo)
        try bindings.append(codeHash)
        bindings.append(binding.redirectURI)
        bindings.append(binding.codeChallenge)
        bindings.append(binding.nonce)
        bindings.append(binding.scope)
        bindings.append(Double(lifetime))
        bindings.append(remoteAddress)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> UUID {
        try row.decode(UUID.self)
    }
}
