import Foundation
import Logging
import PostgresNIO

/// How a client proves its identity at the token endpoint (RFC 7591 `token_endpoint_auth_method`).
public enum ClientAuthMethod: String, Sendable, Codable, CaseIterable {
    case none
    case clientSecretBasic = "client_secret_basic"
    case clientSecretPost = "client_secret_post"
}

/// A registered application. Never carries its secret or the secret's hash.
public struct Client: Sendable, Equatable {
    public var clientID: String
    public var clientName: String?
    public var authMethod: ClientAuthMethod
    public var grantTypes: [GrantType]
    public var scopes: [String]
    public var audience: String?
    /// Overrides of the configured lifetimes; a client may only shorten them.
    public var accessTokenLifetime: Int?
    public var refreshTokenLifetime: Int?
    public var createdAt: Date

    public var isConfidential: Bool { authMethod != .none }

    public func allows(_ grant: GrantType) -> Bool { grantTypes.contains(grant) }
}
