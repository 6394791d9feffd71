/// The OAuth grants Signet implements: the one list. Discovery's `grant_types_supported`, the
/// registration and CLI messages and the token endpoint's dispatch (an exhaustive `switch`) derive
/// from it; tests keep the SQL CHECK on `clients.grant_types` and openapi.yaml's `GrantType` enum
/// equal to it. A new grant is a new case here, its unit in ``TokenGrants``, and a migration.
public enum GrantType: String, Sendable, Codable, CaseIterable {
    case password
    case refreshToken = "refresh_token"
    case clientCredentials = "client_credentials"
    case authorizationCode = "authorization_code"

    /// Every grant's name, for messages: "password, refresh_token, client_credentials, authorization_code".
    public static var names: String {
        allCases.map(\.rawValue).joined(separator: ", ")
    }
}
