import Foundation

/// Who is calling, once a bearer token has been checked: the user it speaks for, the roles it
/// may use (granted by the token *and* held by the user now), the client and session it came
/// through, its scopes, and how the user authenticated (`acr` "1" or "2"). Set by one
/// authenticator, required by policies.
public struct Principal: Sendable, Equatable {
    public var user: User
    public var roles: Set<String>
    public var clientID: String
    public var sessionID: UUID?
    public var scopes: Set<String>
    /// The token's level of assurance: `"2"` when the login used a second factor.
    public var acr: String

    public init(user: User, roles: Set<String>, clientID: String, sessionID: UUID?, scopes: Set<String>, acr: String = "1") {
        self.acr = acr
        self.user = user
        self.roles = roles
        self.clientID = clientID
        self.sessionID = sessionID
        self.scopes = scopes
    }

    /// The principal a live access token stands for, given its user as stored now.
    public init(claims: AccessTokenClaims, user: User) {
        self.init(
            user: user, roles: Set(claims.roles).intersection(user.roles), clientID: claims.client_id,
            sessionID: claims.sid.flatMap(UUID.init(uuidString:)), scopes: Set(claims.scope.split(separator: " ").map(String.init)),
            acr: claims.acr ?? "1")
    }

    public func holds(_ role: String) -> Bool {
        roles.contains(role)
    }
}
