import Foundation
import Logging
import PostgresNIO

/// What an access token minted from a session needs to know about it.
public struct SessionGrant: Sendable, Equatable {
    public var sessionID: UUID
    public var userID: UUID
    public var clientID: String
    public var scope: String
    public var authTime: Date
    public var roles: [String]
    /// The counter of the refresh token to hand out now.
    public var counter: Int64
    /// The browser session of a code-flow family: the `sid` of its access tokens.
    public var browserSessionID: UUID?
    /// How the login behind this family authenticated, and its level.
    public var amr: [String]
    public var acr: String

    /// The `sid` of access tokens minted from this session.
    public var tokenSessionID: UUID { browserSessionID ?? sessionID }
}

/// A live session as listed to admins.
public struct SessionSummary: Sendable, Equatable {
    public var id: UUID
    public var clientID: String
    public var scope: String
    public var createdAt: Date
    public var lastUsedAt: Date
    public var expiresAt: Date
}
