import Foundation
import Logging
import PostgresNIO

/// A session to create together with a successful login, in the same statement.
public struct NewSession: Sendable, Equatable {
    public var id: UUID
    public var clientID: String
    public var scope: String
    public var authTime: Date
    public var absoluteLifetime: Int

    public init(id: UUID, clientID: String, scope: String, authTime: Date, absoluteLifetime: Int) {
        self.id = id
        self.clientID = clientID
        self.scope = scope
        self.authTime = authTime
        self.absoluteLifetime = absoluteLifetime
    }
}
