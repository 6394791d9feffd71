import Foundation
import Logging
import PostgresNIO

/// A login attempt on a known account, reserved before its password is hashed.
///
/// It remembers exactly what was verified (the hash, the token generation, the roles) and the
/// locks its own reservation set, so that completing it succeeds only if the account is still in
/// that state and no other attempt has locked it since.
public struct LoginAttempt: Sendable, Equatable {
    public var user: User
    /// Whether the attempt may be evaluated at all: false while the account or its source is locked.
    public var admitted: Bool
    var passwordHash: String
    var generation: Int64
    var source: String
    var sourceLock: Date?
    var accountLock: Date?
    /// Whether the user had TOTP set up when the attempt began (read by the same statement).
    var hasTOTP: Bool
}
