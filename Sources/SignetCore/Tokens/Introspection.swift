import Foundation

/// Token introspection (RFC 7662) for authenticated confidential clients.
public struct Introspection: Sendable {
    let verifier: TokenVerifier
    let sessions: SessionStore
    let masterKey: MasterKey
    let issuer: String
    let idleLifetime: Int

    public init(verifier: TokenVerifier, sessions: SessionStore, masterKey: MasterKey, settings: Settings) {
        self.verifier = verifier
        self.sessions = sessions
        self.masterKey = masterKey
        self.issuer = settings.issuerString
        self.idleLifetime = settings.lifetimes.refreshIdleSeconds
    }

    /// The RFC 7662 response members; `active` false carries nothing else.
    public struct Result: Sendable, Equatable, Encodable {
        public var active: Bool
        public var token_type: String?
        public var scope: String?
        public var client_id: String?
        public var sub: String?
        public var aud: [String]?
        public var iss: String?
        public var exp: Int?
        public var iat: Int?
        public var nbf: Int?
        public var jti: String?
        public var sid: String?
        public var roles: [String]?
        public var auth_time: Int?
        public var amr: [String]?
        public var acr: String?
        public var cnf: AccessTokenClaims.Confirmation?

        public static let inactive = Result(active: false)
    }

    /// Access tokens of any client; refresh tokens only to the client they were issued to.
    public func introspect(token: String, client: Client) async throws -> Result {
        if let refresh = RefreshToken(verifying: token, with: masterKey) {
            guard let session = try await sessions.current(sessionID: refresh.sessionID, counter: refresh.counter, idleLifetime: idleLifetime),
                  session.clientID == client.clientID
            else { return .inactive }
            return Result(
                active: true, token_type: "refresh_token", scope: session.scope, client_id: session.clientID,
                sub: session.userID.uuidString.lowercased(), iss: issuer, exp: Int(session.expiresAt.timeIntervalSince1970),
                iat: Int(session.createdAt.timeIntervalSince1970), sid: refresh.sessionID.uuidString.lowercased(),
                auth_time: Int(session.authTime.timeIntervalSince1970), amr: session.amr, acr: session.acr)
        }
        guard let claims = try? await verifier.verify(token, audience: .any) else { return .inactive }
        return Result(
            active: true, token_type: "Bearer", scope: claims.scope, client_id: claims.client_id, sub: claims.sub,
            aud: claims.aud.value, iss: claims.iss, exp: claims.exp, iat: claims.iat, nbf: claims.nbf, jti: claims.jti,
            sid: claims.sid, roles: claims.roles, auth_time: claims.auth_time, amr: claims.amr, acr: claims.acr, cnf: claims.cnf)
    }
}
