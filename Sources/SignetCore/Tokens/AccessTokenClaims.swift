import Foundation
import JWTKit

/// The claims of an access token, per RFC 9068 and API.md. Times are whole seconds since 1970.
public struct AccessTokenClaims: JWTPayload, Equatable {
    public var iss: String
    public var sub: String
    public var aud: AudienceClaim
    public var exp: Int
    public var iat: Int
    public var nbf: Int
    public var jti: String
    public var client_id: String
    public var scope: String
    /// The session (refresh-token family); absent for `client_credentials` tokens.
    public var sid: String?
    public var roles: [String]
    /// When the user authenticated; absent for `client_credentials` tokens.
    public var auth_time: Int?
    /// Whose token this is: `user` (`sub` is a user id) or `client` (`sub` is the client's id, a
    /// `client_credentials` token). Said explicitly so that no client id can pass for a user.
    public var sub_type: SubjectType?
    /// How the user authenticated (RFC 8176, e.g. `["pwd","otp"]`) and the resulting level,
    /// `"1"` (one factor) or `"2"` (two); absent for `client_credentials` tokens.
    public var amr: [String]?
    public var acr: String?
    /// Confirmation (RFC 9449 §6): the thumbprint of the DPoP key the token is bound to.
    public var cnf: Confirmation?

    public struct Confirmation: Codable, Sendable, Equatable {
        public var jkt: String
        public init(jkt: String) { self.jkt = jkt }
    }

    public enum SubjectType: String, Codable, Sendable {
        case user
        case client
    }

    public init(
        iss: String, sub: String, aud: [String], exp: Int, iat: Int, nbf: Int, jti: String, client_id: String,
        scope: String, sid: String?, roles: [String], auth_time: Int?, sub_type: SubjectType, amr: [String]? = nil,
        acr: String? = nil, cnf: Confirmation? = nil
    ) {
        self.cnf = cnf
        self.amr = amr
        self.acr = acr
        self.iss = iss
        self.sub = sub
        self.aud = AudienceClaim(value: aud)
        self.exp = exp
        self.iat = iat
        self.nbf = nbf
        self.jti = jti
        self.client_id = client_id
        self.scope = scope
        self.sid = sid
        self.roles = roles
        self.auth_time = auth_time
        self.sub_type = sub_type
    }

    /// The user this token was issued to, or `nil` for a client's own token. Tokens from before
    /// `sub_type` existed (at most one access-token lifetime old) fall back to the session and
    /// `sub` ≠ `client_id`.
    public var userID: UUID? {
        isUserToken ? UUID(uuidString: sub) : nil
    }

    /// Whether this token speaks for a user (even if its `sub` is not a valid user id).
    public var isUserToken: Bool {
        switch sub_type {
        case .user: true
        case .client: false
        case nil: sid != nil || sub != client_id
        }
    }

    /// Nothing is checked here: ``TokenVerifier`` checks time (with the configured leeway), issuer
    /// and revocation after the signature.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// Whether the token is within its validity window at `now`, allowing `leeway` seconds of skew.
    public func isCurrent(at now: Int = Int(Date().timeIntervalSince1970), leeway: Int) -> Bool {
        exp > now - leeway && nbf <= now + leeway && iat <= now + leeway
    }
}
