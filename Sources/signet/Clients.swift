import ArgumentParser
import SignetCore

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage applications (OAuth clients).", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client; a confidential client's secret is printed once, never again.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The client id (1-128 of A-Z a-z 0-9 . _ ~ -).") var clientID: String
        @Flag(help: "A public client (no secret, token_endpoint_auth_method none), e.g. a mobile or single-page app.")
        var `public` = false
        @Option(help: "Authentication of a confidential client: client_secret_basic (default) or client_secret_post.")
        var authMethod: String = ClientAuthMethod.clientSecretBasic.rawValue
        @Option(name: .customLong("grant"), help: ArgumentHelp("An allowed grant (repeatable): \(GrantType.names)."))
        var grants: [String] = []
        @Option(name: .customLong("scope"), help: "An allowed scope (repeatable; default: openid, profile).")
        var scopes: [String] = []
        @Option(help: "The aud claim of this client's access tokens (default: the issuer).") var audience: String?
        @Option(help: "A human-readable name.") var name: String?
        @Option(name: .customLong("redirect-uri"), help: "Where browser sign-in may return (repeatable; required with authorization_code).")
        var redirectURIs: [String] = []
        @Option(name: .customLong("post-logout-redirect-uri"), help: "Where logout may return (repeatable).")
        var postLogoutRedirectURIs: [String] = []
        @Flag(help: "A first-party application: its users are not asked to consent.") var skipConsent = false
        @Flag(help: "Its users must sign in with a second factor (TOTP).") var requireMfa = false
        @Flag(help: "Every token request must carry a DPoP proof (RFC 9449); its access tokens are bound to the proof's key.")
        var dpopBound = false
        @Option(help: "A file holding the client's public keys (a JWK Set), to encrypt its tokens to.") var jwksFile: String?
        @Option(help: "Encrypt its access tokens to a key of --jwks-file: ECDH-ES+A256KW or RSA-OAEP-256 (with A256GCM).")
        var accessTokenEncryption: String?
        @Option(help: "Encrypt its ID tokens to a key of --jwks-file: ECDH-ES+A256KW or RSA-OAEP-256 (with A256GCM).")
        var idTokenEncryption: String?
        @Option(name: .customLong("allow-network"), help: "A CIDR it may use the token endpoint from (repeatable; default: anywhere).")
        var allowedNetworks: [String] = []
        @Flag(help: "Do not require PKCE of a confidential client (public clients always need it).") var noRequirePkce = false
        @Option(help: "Algorithm of this client's ID tokens: RS256 (default) or ES256.") var idTokenAlg: String = "RS256"

        func validate() throws {
            guard !grants.isEmpty else { throw ValidationError("name at least one --grant") }
            for grant in grants where GrantType(rawValue: grant) == nil {
                throw ValidationError("unknown grant \(grant); use one of \(GrantType.names)")
            }
            guard let method = ClientAuthMethod(rawValue: authMethod), method != .none else {
                throw ValidationError("--auth-method must be client_secret_basic or client_secret_post (use --public for none)")
            }
            guard idTokenAlg == "RS256" || idTokenAlg == "ES256" else { throw ValidationError("--id-token-alg must be RS256 or ES256") }
        }

        func run() async throws {
            var jwks: String?
            if let jwksFile {
                do {
                    jwks = try String(contentsOfFile: jwksFile, encoding: .utf8)
                } catch {
                    throw CommandFailure(description: "cannot read --jwks-file \(jwksFile)")
                }
            }
            let registration = ClientRegistry.Registration(
                clientID: clientID, clientName: name,
                authMethod: `public` ? .none : ClientAuthMethod(rawValue: authMethod) ?? .clientSecretBasic,
                grantTypes: grants.compactMap(GrantType.init(rawValue:)),
                scopes: scopes.isEmpty ? ["openid", "profile"] : scopes, audience: audience, redirectURIs: redirectURIs,
                postLogoutRedirectURIs: postLogoutRedirectURIs, requirePKCE: noRequirePkce ? false : nil, skipConsent: skipConsent,
                idTokenAlgorithm: SigningAlgorithm(rawValue: idTokenAlg) ?? .rs256, requireMFA: requireMfa,
                allowedNetworks: allowedNetworks, jwks: jwks, idTokenEncryptedResponseAlg: idTokenEncryption,
                accessTokenEncryptedResponseAlg: accessTokenEncryption, dpopBoundAccessTokens: dpopBound)
            let (client, secret) = try await TokenServices.withStarted(options) { services in
                try await services.clients.register(registration, lifetimes: services.environment.settings.lifetimes)
            }
            print("client_id: \(client.clientID)")
            if let secret {
                print("client_secret: \(secret)")
                print("(the secret is shown only now; store it safely)")
            }
            print("token_endpoint_auth_method: \(client.authMethod.rawValue)")
            print("grant_types: \(client.grantTypes.map(\.rawValue).joined(separator: " "))")
            print("scope: \(client.scopes.joined(separator: " "))")
            if !client.redirectURIs.isEmpty {
                print("redirect_uris: \(client.redirectURIs.joined(separator: " "))")
                print("require_pkce: \(client.requirePKCE)")
                print("skip_consent: \(client.skipConsent)")
            }
            if client.requireMFA { print("require_mfa: true") }
            if client.dpopBoundAccessTokens { print("dpop_bound_access_tokens: true") }
            if let encryption = client.accessTokenEncryption {
                print("access_token_encrypted_response: \(encryption.algorithm.rawValue) \(encryption.encryption.rawValue)")
            }
            if let encryption = client.idTokenEncryption {
                print("id_token_encrypted_response: \(encryption.algorithm.rawValue) \(encryption.encryption.rawValue)")
            }
            if !client.allowedNetworks.isEmpty {
                print("allowed_networks: \(client.allowedNetworks.map(\.description).joined(separator: " "))")
            }
        }
    }
}
