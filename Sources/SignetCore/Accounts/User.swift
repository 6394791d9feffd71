import Foundation
import Logging
import PostgresNIO

/// An account as the rest of Signet sees it. Deliberately carries no password hash.
public struct User: Sendable, Equatable, Codable {
    public var id: UUID
    public var username: String
    public var email: String?
    public var roles: [String]
    public var disabled: Bool
    public var createdAt: Date
}
