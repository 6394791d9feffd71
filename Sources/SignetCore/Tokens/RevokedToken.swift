import Foundation
import Logging
import PostgresNIO

/// A revoked access token on the list until it expires.
public struct RevokedToken: Sendable, Equatable {
    public var jti: String
    public var expiresAt: Date
}

/// A session ended before its time, as listed to admins.
public struct RevokedSession: Sendable, Equatable {
    public var sessionID: UUID
    public var revokedAt: Date
    public var reason: String
    /// Where the next page starts after this session.
    public var cursor: RevocationStore.SessionCursor
}
