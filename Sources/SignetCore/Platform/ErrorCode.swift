/// The catalogue of error codes Signet answers with, as they appear on the wire in `"error"`:
/// RFC 6749 §5.2 and RFC 7009 for the OAuth endpoints, RFC 6750 §3.1 for bearer tokens, RFC 8628
/// `slow_down` for rate limits, and Signet's own for the admin API. Codes are only ever these.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    // RFC 6749 §5.2
    public static let invalidRequest = ErrorCode(rawValue: "invalid_request")
    public static let invalidClient = ErrorCode(rawValue: "invalid_client")
    public static let invalidGrant = ErrorCode(rawValue: "invalid_grant")
    public static let unauthorizedClient = ErrorCode(rawValue: "unauthorized_client")
    public static let unsupportedGrantType = ErrorCode(rawValue: "unsupported_grant_type")
    public static let invalidScope = ErrorCode(rawValue: "invalid_scope")
    public static let temporarilyUnavailable = ErrorCode(rawValue: "temporarily_unavailable")
    public static let serverError = ErrorCode(rawValue: "server_error")
    // RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6 (authorization endpoint redirects)
    public static let unsupportedResponseType = ErrorCode(rawValue: "unsupported_response_type")
    public static let accessDenied = ErrorCode(rawValue: "access_denied")
    public static let loginRequired = ErrorCode(rawValue: "login_required")
    public static let consentRequired = ErrorCode(rawValue: "consent_required")
    public static let interactionRequired = ErrorCode(rawValue: "interaction_required")
    public static let requestNotSupported = ErrorCode(rawValue: "request_not_supported")
    public static let requestURINotSupported = ErrorCode(rawValue: "request_uri_not_supported")
    // RFC 9449 §5 and §7.1 (DPoP)
    public static let invalidDPoPProof = ErrorCode(rawValue: "invalid_dpop_proof")
    // RFC 7591 §3.2.2 (client registration through the admin API)
    public static let invalidClientMetadata = ErrorCode(rawValue: "invalid_client_metadata")
    // RFC 8628 §3.5, used for every per-address limit
    public static let slowDown = ErrorCode(rawValue: "slow_down")
    // RFC 6750 §3.1
    public static let invalidToken = ErrorCode(rawValue: "invalid_token")
    public static let insufficientScope = ErrorCode(rawValue: "insufficient_scope")
    // RFC 9470 §3 (step-up authentication challenge)
    public static let insufficientUserAuthentication = ErrorCode(rawValue: "insufficient_user_authentication")
    // Signet's own
    public static let notFound = ErrorCode(rawValue: "not_found")
    public static let conflict = ErrorCode(rawValue: "conflict")
    public static let requestTooLarge = ErrorCode(rawValue: "request_too_large")
    public static let methodNotAllowed = ErrorCode(rawValue: "method_not_allowed")
    public static let unsupportedMediaType = ErrorCode(rawValue: "unsupported_media_type")
}
