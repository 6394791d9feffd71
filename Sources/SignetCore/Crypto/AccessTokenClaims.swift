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

    public init(
        iss: String, sub: String, aud: [String], exp: Int, iat: Int, nbf: Int, jti: String, client_id: String,
        scope: String, sid: String?, roles: [String], auth_time: Int?
    ) {
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
    }

    /// Nothing is checked here: ``TokenVerifier`` checks time (with the configured leeway), issuer
    /// and revocation after the signature.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// Whether the token is within its validity window at `now`, allowing `leeway` seconds of skew.
    public func isCurrent(at now: Int = Int(Date().timeIntervalSince1970), leeway: Int) -> Bool {
        exp > now - leeway && nbf <= now + leeway && iat <= now + leeway
    }
}
