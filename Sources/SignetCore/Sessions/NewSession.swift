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
    /// How the user authenticated (RFC 8176) and the resulting level, `"1"` or `"2"`.
    public var amr: [String]
    public var acr: String
    /// The DPoP key the family's refresh tokens are bound to (public clients that sent a proof).
    public var dpopJKT: String?

    public init(
        id: UUID, clientID: String, scope: String, authTime: Date, absoluteLifetime: Int, amr: [String] = ["pwd"], acr: String = "1",
        dpopJKT: String? = nil
    ) {
        self.dpopJKT = dpopJKT
        self.amr = amr
        self.acr = acr
        self.id = id
        self.clientID = clientID
        self.scope = scope
        self.authTime = authTime
        self.absoluteLifetime = absoluteLifetime
    }
}
