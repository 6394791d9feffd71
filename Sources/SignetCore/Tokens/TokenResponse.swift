import Foundation
import JWTKit
import Logging

/// What the token endpoint returns on success (RFC 6749 §5.1).
public struct TokenResponse: Sendable, Equatable {
    public var accessToken: String
    public var expiresIn: Int
    public var refreshToken: String?
    public var scope: String
    /// The ID token of a code exchange that was granted `openid`.
    public var idToken: String? = nil
    /// `Bearer`, or `DPoP` when the access token is bound to the key of the request's proof.
    public var tokenType: String = "Bearer"
}

/// The RFC 6749 §5.1 members, written directly (every token answer is one of these).
extension TokenResponse: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("access_token", accessToken)
        writer.member("expires_in", expiresIn)
        writer.member("id_token", idToken)
        writer.member("refresh_token", refreshToken)
        writer.member("scope", scope)
        writer.member("token_type", tokenType)
        writer.endObject()
    }
}
