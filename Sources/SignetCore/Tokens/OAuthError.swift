/// A refusal at an OAuth endpoint, with the RFC 6749 §5.2 error code and a description meant for
/// the client developer. The HTTP layer maps it to status, headers and JSON once.
public struct OAuthError: Error, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case invalidScope = "invalid_scope"
        case temporarilyUnavailable = "temporarily_unavailable"
        case slowDown = "slow_down"
    }

    public var code: Code
    public var description: String
    /// Seconds the client should wait before retrying (`Retry-After`), for overload answers.
    public var retryAfter: Int?
    /// An HTTP status other than the code's usual one (413 for an oversized body).
    public var status: Int?

    public init(_ code: Code, _ description: String, retryAfter: Int? = nil, status: Int? = nil) {
        self.code = code
        self.description = description
        self.retryAfter = retryAfter
        self.status = status
    }

    public static func invalidRequest(_ description: String) -> OAuthError { .init(.invalidRequest, description) }
    public static let invalidClient = OAuthError(.invalidClient, "client authentication failed")
    /// The one answer for an unknown user, a wrong password and a disabled or locked account.
    public static let invalidCredentials = OAuthError(.invalidGrant, "invalid username or password")
}
