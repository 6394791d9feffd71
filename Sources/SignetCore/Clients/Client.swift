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
    /// Where the authorization endpoint may send the browser back (matched byte for byte).
    public var redirectURIs: [String]
    /// Where RP-initiated logout may send the browser afterwards (matched byte for byte).
    public var postLogoutRedirectURIs: [String]
    /// Whether an authorization request must carry a PKCE challenge (always for public clients).
    public var requirePKCE: Bool
    /// A first-party application whose users are not asked to consent.
    public var skipConsent: Bool
    /// The algorithm of this client's ID tokens (`RS256` unless it registered `ES256`).
    public var idTokenAlgorithm: SigningAlgorithm
    /// Its users must pass a second factor to sign in to it.
    public var requireMFA: Bool
    /// Where it may use the token, introspection and revocation endpoints from; empty: anywhere.
    public var allowedNetworks: [IPNetwork]
    /// Its public keys (a JWK Set, JSON text), for encrypting tokens to it.
    public var jwks: String?
    /// Encryption of its ID tokens and of its access tokens (nil: signed only).
    public var idTokenEncryption: TokenEncryption?
    public var accessTokenEncryption: TokenEncryption?
    /// Every token request must carry a DPoP proof; its access tokens are always bound.
    public var dpopBoundAccessTokens: Bool
    public var createdAt: Date

    public init(
        clientID: String, clientName: String?, authMethod: ClientAuthMethod, grantTypes: [GrantType], scopes: [String],
        audience: String?, accessTokenLifetime: Int?, refreshTokenLifetime: Int?, redirectURIs: [String] = [],
        postLogoutRedirectURIs: [String] = [], requirePKCE: Bool = true, skipConsent: Bool = false,
        idTokenAlgorithm: SigningAlgorithm = .rs256, requireMFA: Bool = false, allowedNetworks: [IPNetwork] = [], jwks: String? = nil,
        idTokenEncryption: TokenEncryption? = nil, accessTokenEncryption: TokenEncryption? = nil, dpopBoundAccessTokens: Bool = false,
        createdAt: Date
    ) {
        self.clientID = clientID
        self.clientName = clientName
        self.authMethod = authMethod
        self.grantTypes = grantTypes
        self.scopes = scopes
        self.audience = audience
        self.accessTokenLifetime = accessTokenLifetime
        self.refreshTokenLifetime = refreshTokenLifetime
        self.redirectURIs = redirectURIs
        self.postLogoutRedirectURIs = postLogoutRedirectURIs
        self.requirePKCE = requirePKCE || authMethod == .none
        self.skipConsent = skipConsent
        self.idTokenAlgorithm = idTokenAlgorithm
        self.requireMFA = requireMFA
        self.allowedNetworks = allowedNetworks
        self.jwks = jwks
        self.idTokenEncryption = idTokenEncryption
        self.accessTokenEncryption = accessTokenEncryption
        self.dpopBoundAccessTokens = dpopBoundAccessTokens
        self.createdAt = createdAt
    }

    /// The name shown to users: the registered name, else the id.
    public var displayName: String { clientName ?? clientID }

    public var isConfidential: Bool { authMethod != .none }

    public func allows(_ grant: GrantType) -> Bool { grantTypes.contains(grant) }

    /// Whether it may be used from `address` (an unknown address only when no network is set).
    public func admits(_ address: IPAddress?) -> Bool {
        allowedNetworks.isEmpty || address.map(allowedNetworks.containsAddress) == true
    }
}
