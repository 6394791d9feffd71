/// The one error type of Signet's domain: what kind of refusal it is (which decides the HTTP
/// status in every dialect), the wire `code`, a description meant for the client's developer,
/// and what the client needs to fix or retry it. Each dialect renders it in exactly one place:
/// OAuth JSON (RFC 6749 §5.2), the RFC 6750 Bearer challenge, admin JSON, and the command line.
public struct SignetError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The request is malformed or a value is unacceptable (400).
        case invalidInput
        /// The caller did not prove who it is (401).
        case unauthenticated
        /// The caller is known but may not do this (403).
        case forbidden
        /// What the request names does not exist (404).
        case notFound
        /// It would clash with what exists (409).
        case conflict
        /// The body is larger than allowed (413).
        case tooLarge
        /// The caller's address is over a limit (429 + Retry-After).
        case rateLimited
        /// Signet is busy or a dependency is down; retry later (503, with Retry-After when known).
        case unavailable
    }

    public var kind: Kind
    public var code: ErrorCode
    /// What went wrong, for the client's developer; with `field`, a sentence about that field.
    public var message: String
    /// The input field (parameter, JSON member, setting) the refusal is about, if one.
    public var field: String?
    /// Seconds to wait before retrying (`Retry-After`).
    public var retryAfter: Int?
    /// The scope a bearer token lacks (RFC 6750 `scope` attribute of the challenge).
    public var requiredScope: String?

    public init(
        _ code: ErrorCode, _ message: String, kind: Kind? = nil, field: String? = nil, retryAfter: Int? = nil,
        requiredScope: String? = nil
    ) {
        self.code = code
        self.message = message
        self.kind = kind ?? Self.usualKind(of: code)
        self.field = field
        self.retryAfter = retryAfter
        self.requiredScope = requiredScope
    }

    /// The message, prefixed by the field it is about.
    public var description: String {
        field.map { "\($0) \(message)" } ?? message
    }

    /// The kind a code usually comes with.
    static func usualKind(of code: ErrorCode) -> Kind {
        switch code {
        case .invalidClient, .invalidToken: .unauthenticated
        case .insufficientScope, .accessDenied: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .requestTooLarge: .tooLarge
        case .slowDown: .rateLimited
        case .temporarilyUnavailable, .serverError: .unavailable
        default: .invalidInput
        }
    }

    // MARK: The refusals Signet makes in more than one place

    /// A field of user input that failed validation.
    public static func invalid(field: String, reason: String) -> SignetError {
        SignetError(.invalidRequest, reason, field: field)
    }

    public static func invalidRequest(_ message: String) -> SignetError {
        SignetError(.invalidRequest, message)
    }

    /// No such `what` (a user, a client, a session).
    public static func notFound(_ what: String) -> SignetError {
        SignetError(.notFound, "no such \(what)")
    }

    /// Client metadata that Signet cannot honour (RFC 7591 §3.2.2).
    public static func invalidClientMetadata(_ message: String) -> SignetError {
        SignetError(.invalidClientMetadata, message, kind: .invalidInput)
    }

    public static func conflict(_ message: String) -> SignetError {
        SignetError(.conflict, message)
    }

    /// Too much work in progress (password hashing); retry after `seconds`.
    public static func overloaded(_ message: String, retryAfter seconds: Int = 1) -> SignetError {
        SignetError(.temporarilyUnavailable, message, retryAfter: seconds)
    }

    public static let userNotFound = notFound("user")
    public static let clientNotFound = notFound("client")
    public static let usernameTaken = conflict("a user with that username already exists")
    public static let clientIDTaken = conflict("a client with that client_id already exists")
    /// The hashing pool's queue is full: answered at once instead of piling up hashes in memory.
    public static let hashingOverloaded = overloaded("password hashing is busy")
    public static let hashingStopped = SignetError(.temporarilyUnavailable, "password hashing has stopped")
    public static let invalidClient = SignetError(.invalidClient, "client authentication failed")
    /// The one answer for an unknown user, a wrong password and a disabled or locked account.
    public static let invalidCredentials = SignetError(.invalidGrant, "invalid username or password")
    /// The password grant for an account with TOTP, without `totp`.
    public static let secondFactorRequired = SignetError(
        .invalidGrant, "a second factor is required: send the current code of the account's authenticator app as totp")
    /// The password grant to a client that requires MFA, for a user who has no second factor yet.
    public static let secondFactorNotSetUp = SignetError(
        .invalidGrant, "a second factor is required by this application; set one up by signing in through the browser first")
    /// A token whose login used one factor, where policy demands two (RFC 9470).
    public static let secondFactorNotUsed = SignetError(
        .insufficientUserAuthentication, "this account must sign in with a second factor (acr 2) to use this", kind: .unauthenticated)
}
