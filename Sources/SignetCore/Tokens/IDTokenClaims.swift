import Crypto
import Foundation
import JWTKit

/// The claims of an ID token (OpenID Connect Core §2, §3.1.3.6). Times are whole seconds since
/// 1970; absent optionals are left out of the token.
public struct IDTokenClaims: JWTPayload, Equatable {
    public var iss: String
    public var sub: String
    /// The client id (one audience, so a plain string).
    public var aud: String
    public var exp: Int
    public var iat: Int
    public var auth_time: Int
    public var nonce: String?
    /// Left half of SHA-256 of the access token, base64url (OIDC Core §3.1.3.6).
    public var at_hash: String?
    /// The browser session.
    public var sid: String
    /// RFC 8176 authentication methods.
    public var amr: [String]
    public var acr: String?
    public var azp: String
    public var email: String?
    public var email_verified: Bool?
    public var preferred_username: String?

    /// Nothing is checked here: an ID token presented back to Signet (`id_token_hint`) is checked
    /// by ``TokenVerifier/idTokenHint(_:)``, which accepts expired ones on purpose.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// `at_hash` of `accessToken` for the SHA-256 algorithms (RS256, ES256).
    public static func accessTokenHash(_ accessToken: String) -> String {
        Data(SHA256.hash(data: Data(accessToken.utf8))).prefix(16).base64URLEncodedString()
    }
}
