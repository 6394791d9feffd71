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

    /// Only time is checked here; issuer, audience and revocation are the verifier's job.
    public func verify(using algorithm: some JWTAlgorithm) async throws {
        let now = Int(Date().timeIntervalSince1970)
        guard exp > now - AccessTokenClaims.leewaySeconds else {
            throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "expired")
        }
        guard nbf <= now + AccessTokenClaims.leewaySeconds else {
            throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "not yet valid")
        }
    }

    static let leewaySeconds = 30
}
