import Foundation
import Hummingbird
import SignetCore

/// OIDC Discovery 1.0 / RFC 8414 metadata.
struct DiscoveryDocument: Encodable {
    var issuer: String
    var authorization_endpoint: String
    var end_session_endpoint: String
    var token_endpoint: String
    var jwks_uri: String
    var revocation_endpoint: String
    var introspection_endpoint: String
    var userinfo_endpoint: String
    var grant_types_supported = GrantType.allCases.map(\.rawValue)
    var token_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post", "none"]
    var revocation_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post", "none"]
    var introspection_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post"]
    var response_types_supported = ["code"]
    var response_modes_supported = ["query"]
    var code_challenge_methods_supported = ["S256"]
    var prompt_values_supported = ["none", "login", "consent", "select_account"]
    var authorization_response_iss_parameter_supported = true
    var request_parameter_supported = false
    var request_uri_parameter_supported = false
    var claims_parameter_supported = false
    var scopes_supported = ["openid", "profile", "email", "offline_access"]
    var id_token_signing_alg_values_supported: [String]
    var token_endpoint_auth_signing_alg_values_supported: [String]? = nil
    var subject_types_supported = ["public"]
    /// `1`: one factor (password); `2`: two (password and TOTP or a recovery code). `acr_values=2` demands two.
    var acr_values_supported = ["1", "2"]
    /// ID tokens encrypted to the client's registered key (nested JWT), on request at registration.
    var id_token_encryption_alg_values_supported = JWE.KeyAlgorithm.allCases.map(\.rawValue)
    var id_token_encryption_enc_values_supported = JWE.ContentEncryption.allCases.map(\.rawValue)
    /// DPoP proofs (RFC 9449 §5.1) at the token endpoint and with DPoP-bound tokens.
    var dpop_signing_alg_values_supported = DPoPProof.algorithms
    var claims_supported = [
        "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid", "roles", "auth_time", "nonce", "at_hash",
        "amr", "acr", "azp", "email", "email_verified", "preferred_username",
    ]

    init(settings: Settings) {
        let base = settings.issuerString
        issuer = base
        authorization_endpoint = base + "/oauth2/authorize"
        end_session_endpoint = base + "/oauth2/logout"
        token_endpoint = base + "/oauth2/token"
        jwks_uri = base + "/.well-known/jwks.json"
        revocation_endpoint = base + "/oauth2/revoke"
        introspection_endpoint = base + "/oauth2/introspect"
        userinfo_endpoint = base + "/userinfo"
        // ID tokens: RS256 unless a client registered ES256 (OIDC Core §15.1 requires RS256).
        id_token_signing_alg_values_supported = ["RS256", "ES256"]
    }
}
