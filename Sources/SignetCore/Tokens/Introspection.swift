import Crypto
import Foundation

/// Token introspection (RFC 7662) for authenticated confidential clients.
public struct Introspection: Sendable {
    let verifier: TokenVerifier
    let sessions: SessionStore
    let masterKey: MasterKey
    let issuer: String
    let idleLifetime: Int
    /// The encoded answers for access tokens found active, by SHA-256 of the token, each until
    /// the token's `exp`: a resource server asking again about the same token costs a hash and a
    /// look-up. Any change to the revocation state, on any node, empties it (as it does the
    /// verifier's liveness cache), so a revoked token is never answered from here. An answer is
    /// about a kilobyte: 10,000 of them bound the cache near 10 MiB.
    let answers = InvalidatedCache<SHA256Digest, CachedAnswer>(capacity: 10_000)

    struct CachedAnswer: Sendable {
        let json: [UInt8]
        let expiresAt: Int
    }

    public init(verifier: TokenVerifier, sessions: SessionStore, masterKey: MasterKey, settings: Settings, changes: ChangeHub) {
        self.verifier = verifier
        self.sessions = sessions
        self.masterKey = masterKey
        self.issuer = settings.issuerString
        self.idleLifetime = settings.lifetimes.refreshIdleSeconds
        changes.subscribe { [answers] _ in answers.invalidate() }
    }

    /// The introspection answer for `token` as the endpoint sends it. Active access tokens are
    /// answered from the cache when they were asked about before; refresh tokens (their state
    /// moves with every rotation, and the answer depends on the asking client) never are.
    public func answer(token: String, client: Client, now: Int = Int(Date().timeIntervalSince1970)) async throws -> [UInt8] {
        let key = SHA256.hash(data: Data(token.utf8))
        if let cached = answers[key], now < cached.expiresAt {
            return cached.json
        }
        let generation = answers.generation
        let result = try await introspect(token: token, client: client, now: now)
        let json = result.jsonBytes()
        if result.active, result.token_type != "refresh_token", let exp = result.exp {
            answers.store(CachedAnswer(json: json, expiresAt: exp), for: key, ifStill: generation)
        }
        return json
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
    /// An access token is active until its `exp` exactly (RFC 7662 §2.2): the verifier's clock
    /// leeway is for tokens checked on other machines, not for the issuer's own answer.
    public func introspect(token: String, client: Client, now: Int = Int(Date().timeIntervalSince1970)) async throws -> Result {
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
        guard let claims = try? await verifier.verify(token, audience: .any), now < claims.exp else { return .inactive }
        return Result(
            active: true, token_type: "Bearer", scope: claims.scope, client_id: claims.client_id, sub: claims.sub,
            aud: claims.aud.value, iss: claims.iss, exp: claims.exp, iat: claims.iat, nbf: claims.nbf, jti: claims.jti,
            sid: claims.sid, roles: claims.roles, auth_time: claims.auth_time, amr: claims.amr, acr: claims.acr, cnf: claims.cnf)
    }
}

extension Introspection.Result: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("acr", acr)
        writer.member("active", active)
        writer.member("amr", amr)
        writer.member("aud", aud)
        writer.member("auth_time", auth_time)
        writer.member("client_id", client_id)
        writer.member("cnf", cnf)
        writer.member("exp", exp)
        writer.member("iat", iat)
        writer.member("iss", iss)
        writer.member("jti", jti)
        writer.member("nbf", nbf)
        writer.member("roles", roles)
        writer.member("scope", scope)
        writer.member("sid", sid)
        writer.member("sub", sub)
        writer.member("token_type", token_type)
        writer.endObject()
    }
}
