import Foundation

/// A sign-in waiting for its second factor (the `mfa_challenges` row behind the browser's
/// `signet_mfa` cookie): whose it is, what the page asks for, and — for a step-up — the browser
/// session it raises.
public struct MFAChallenge: Sendable, Equatable {
    public enum Purpose: String, Sendable {
        /// Type a code of the authenticator already set up (or a recovery code).
        case verify
        /// Set up an authenticator: scan the new secret, then type a code from it.
        case enrol
    }

    public var id: UUID
    public var user: User
    var generation: Int64
    public var purpose: Purpose
    var pendingSecretSealed: Data?
    /// The live browser session a step-up raises to two factors; nil for a new sign-in.
    public var browserSessionID: UUID?
    public var authTime: Date
}

/// A challenge to store, with the secret of the cookie that finds it.
public struct NewMFAChallenge: Sendable {
    public var id = UUID()
    public var secret = SecretToken()
    var userID: UUID
    /// The user's generation the challenge is valid in; nil for "the current one" (a step-up of a live session).
    var generation: Int64?
    var purpose: MFAChallenge.Purpose
    var pendingSecretSealed: Data?
    var browserSessionID: UUID?
    var authTime: Date
}
