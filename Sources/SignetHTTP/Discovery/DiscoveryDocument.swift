import Foundation
import Hummingbird
import SignetCore

/// OIDC Discovery 1.0 / RFC 8414 metadata. Signet has no authorization endpoint (no browser
/// flows), hence the empty `response_types_supported`.
struct DiscoveryDocument: Encodable {
    var issuer: String
    var token_endpoint: String
    var jwks_uri: String
    var revocation_endpoint: String
    var introspection_endpoint: String
    var userinfo_endpoint: String
    var grant_types_supported = GrantType.allCases.map(\.rawValue)
    var token_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post", "none"]
    var revocation_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post", "none"]
    var introspection_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post"]
    var response_types_supported: [String] = []
    var scopes_supported = ["openid", "profile", "email", "offline_access"]
    var id_token_signing_alg_values_supported: [String]
    var token_endpoint_auth_signing_alg_values_supported: [String]? = nil
    var subject_types_supported = ["public"]
    var claims_supported = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid", "roles", "auth_time"]

    init(settings: Settings) {
        let base = settings.issuerString
        issuer = base
        token_endpoint = base + "/oauth2/token"
        jwks_uri = base + "/.well-known/jwks.json"
        revocation_endpoint = base + "/oauth2/revoke"
        introspection_endpoint = base + "/oauth2/introspect"
        userinfo_endpoint = base + "/userinfo"
        id_token_signing_alg_values_supported = [settings.keys.algorithm.rawValue]
    }
}
