import Foundation
import PostgresNIO

/// The code exchange (see ``AuthorizationCodeStore/exchange(_:clientID:redirectURI:verifierChallenge:issued:origin:)``)
/// as a named prepared statement, parsed and planned once per pooled connection: the code is
/// consumed only if unused, unexpired, the client's, for the same redirect URI, with the PKCE
/// challenge of the verifier, and its browser session and user are live; the same statement
/// creates the refresh family (when `familyID` is set).
struct CodeExchangeStatement: PostgresPreparedStatement {
    static let sql = """
        WITH used AS (
            UPDATE authorization_codes c
            SET used_at = now(), session_id = $1, access_token_jti = $2, access_token_expires_at = $3
            FROM browser_sessions b, users u
            WHERE c.code_hash = $4 AND c.used_at IS NULL AND c.expires_at > now()
              AND c.client_id = $5 AND c.redirect_uri = $6
              AND c.code_challenge IS NOT DISTINCT FROM $7
              AND b.id = c.browser_session_id AND u.id = c.user_id AND b.user_id = u.id
              AND \(BrowserSessionStore.notEnded)
            RETURNING c.browser_session_id, c.scope, c.nonce, c.auth_time, c.amr, c.acr, u.token_generation,
                      u.id AS user_id, u.username, u.email, u.roles, u.disabled, u.created_at
        ), family AS (
            INSERT INTO sessions (id, user_id, client_id, scope, auth_time, created_at, last_used_at, expires_at,
                                  user_generation, browser_session_id, amr, acr, dpop_jkt)
            SELECT $1, user_id, $5, scope, auth_time, now(), now(),
                   now() + make_interval(secs => $8), token_generation, browser_session_id, amr, acr, $9
            FROM used WHERE $1::uuid IS NOT NULL
        )
        SELECT * FROM used
        """
    static let bindingDataTypes: [PostgresDataType] = [.uuid, .text, .timestamptz, .bytea, .text, .text, .text, .float8, .text]

    typealias Row = AuthorizationCodeStore.Grant

    var codeHash: Data
    var clientID: String
    var redirectURI: String?
    var verifierChallenge: String?
    var issued: AuthorizationCodeStore.Issued

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 9)
        bindings.append(issued.familyID)
        bindings.append(issued.accessTokenJTI)
        bindings.append(issued.accessTokenExpiresAt)
        try bindings.append(codeHash)
        bindings.append(clientID)
        bindings.append(redirectURI)
        bindings.append(verifierChallenge)
        bindings.append(Double(issued.familyLifetime))
        bindings.append(issued.dpopJKT)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> AuthorizationCodeStore.Grant {
        let cells = row.makeRandomAccess()
        let user = User(
            id: try cells["user_id"].decode(UUID.self), username: try cells["username"].decode(String.self),
            email: try cells["email"].decode(String?.self), roles: try cells["roles"].decode([String].self),
            disabled: try cells["disabled"].decode(Bool.self), createdAt: try cells["created_at"].decode(Date.self))
        return AuthorizationCodeStore.Grant(
            user: user, browserSessionID: try cells["browser_session_id"].decode(UUID.self),
            scope: try cells["scope"].decode(String.self), nonce: try cells["nonce"].decode(String?.self),
            authTime: try cells["auth_time"].decode(Date.self), amr: try cells["amr"].decode([String].self),
            acr: try cells["acr"].decode(String.self))
    }
}
