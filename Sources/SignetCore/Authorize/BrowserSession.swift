import Foundation

/// A signed-in browser, as the authorization endpoint sees it through its cookie: whose it is,
/// when and how they authenticated, and the consent this user gave the asking client.
public struct BrowserSession: Sendable, Equatable {
    /// The public session id: the `sid` of ID tokens and of code-flow access tokens.
    public var id: UUID
    public var user: User
    public var authTime: Date
    /// RFC 8176 authentication methods, e.g. `["pwd"]`.
    public var amr: [String]
    public var acr: String
    /// The scopes the user has consented to for the client asked about (empty if none).
    public var consentedScopes: [String]
}

/// A browser session to create together with a successful login, in the same statement.
public struct NewBrowserSession: Sendable, Equatable {
    public var id: UUID
    public var secret: SecretToken
    public var authTime: Date
    public var amr: [String]
    public var acr: String
    public var absoluteLifetime: Int
    /// A step-up: raise this live session (same id, new cookie secret) instead of creating one.
    public var raising: UUID?

    public init(authTime: Date, amr: [String], acr: String = "1", absoluteLifetime: Int, raising: UUID? = nil) {
        id = raising ?? UUID()
        secret = SecretToken()
        self.acr = acr
        self.raising = raising
        self.authTime = authTime
        self.amr = amr
        self.absoluteLifetime = absoluteLifetime
    }
}
