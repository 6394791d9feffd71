import Crypto
import Foundation
import Logging

/// Registers applications and authenticates them. Secrets are 256-bit random strings, stored only
/// as an HMAC-SHA-256 under a key derived from the master key, and shown once at creation.
public struct ClientRegistry: Sendable {
    public let store: ClientStore
    private let secretKey: SymmetricKey
    private let audit: AuditLog
    /// Client records (and unknown ids) by id, dropped on any change to `clients` on any node.
    private let cache = InvalidatedCache<String, CachedClient>(capacity: 10_000)

    private struct CachedClient: Sendable {
        var client: Client?
        var secretHash: String?
    }

    public init(store: ClientStore, masterKey: MasterKey, audit: AuditLog, changes: ChangeHub) {
        self.store = store
        self.secretKey = masterKey.derive("client-secret/v1")
        self.audit = audit
        changes.subscribe { [cache] table in
            if table == .clients { cache.invalidate() }
        }
    }

    /// A registration request, as received (RFC 7591 metadata names in the HTTP API).
    public struct Registration: Sendable {
        public var clientID: String?
        public var clientName: String?
        public var authMethod: ClientAuthMethod
        public var grantTypes: [GrantType]
        public var scopes: [String]
        public var audience: String?
        public var accessTokenLifetime: Int?
        public var refreshTokenLifetime: Int?
        public var redirectURIs: [String]
        public var postLogoutRedirectURIs: [String]
        /// `nil`: the default (true).
        public var requirePKCE: Bool?
        public var skipConsent: Bool
        public var idTokenAlgorithm: SigningAlgorithm
        public var requireMFA: Bool
        /// CIDR texts, parsed strictly at registration.
        public var allowedNetworks: [String]
        /// The client's public keys as JSON text (a JWK Set), and the encryption of its tokens as
        /// registered (`*_encrypted_response_alg` / `_enc`), checked at registration.
        public var jwks: String?
        public var idTokenEncryptedResponseAlg: String?
        public var idTokenEncryptedResponseEnc: String?
        public var accessTokenEncryptedResponseAlg: String?
        public var accessTokenEncryptedResponseEnc: String?
        public var dpopBoundAccessTokens: Bool

        public init(
            clientID: String? = nil, clientName: String? = nil, authMethod: ClientAuthMethod = .clientSecretBasic,
            grantTypes: [GrantType], scopes: [String] = ["openid", "profile"], audience: String? = nil,
            accessTokenLifetime: Int? = nil, refreshTokenLifetime: Int? = nil, redirectURIs: [String] = [],
            postLogoutRedirectURIs: [String] = [], requirePKCE: Bool? = nil, skipConsent: Bool = false,
            idTokenAlgorithm: SigningAlgorithm = .rs256, requireMFA: Bool = false, allowedNetworks: [String] = [],
            jwks: String? = nil, idTokenEncryptedResponseAlg: String? = nil, idTokenEncryptedResponseEnc: String? = nil,
            accessTokenEncryptedResponseAlg: String? = nil, accessTokenEncryptedResponseEnc: String? = nil,
            dpopBoundAccessTokens: Bool = false
        ) {
            self.dpopBoundAccessTokens = dpopBoundAccessTokens
            self.jwks = jwks
            self.idTokenEncryptedResponseAlg = idTokenEncryptedResponseAlg
            self.idTokenEncryptedResponseEnc = idTokenEncryptedResponseEnc
            self.accessTokenEncryptedResponseAlg = accessTokenEncryptedResponseAlg
            self.accessTokenEncryptedResponseEnc = accessTokenEncryptedResponseEnc
            self.requireMFA = requireMFA
            self.allowedNetworks = allowedNetworks
            self.redirectURIs = redirectURIs
            self.postLogoutRedirectURIs = postLogoutRedirectURIs
            self.requirePKCE = requirePKCE
            self.skipConsent = skipConsent
            self.idTokenAlgorithm = idTokenAlgorithm
            self.clientID = clientID
            self.clientName = clientName
            self.authMethod = authMethod
            self.grantTypes = grantTypes
            self.scopes = scopes
            self.audience = audience
            self.accessTokenLifetime = accessTokenLifetime
            self.refreshTokenLifetime = refreshTokenLifetime
        }
    }

    /// Validates and stores a client; returns it with its secret (confidential clients only).
    public func register(_ request: Registration, lifetimes: Settings.Lifetimes, actor: AuditEvent? = nil) async throws -> (client: Client, secret: String?) {
        let clientID = request.clientID ?? Self.randomToken(bytes: 16)
        guard clientID.range(of: "^[A-Za-z0-9._~-]{1,128}$", options: .regularExpression) != nil else {
            throw SignetError.invalid(field: "client_id", reason: "must be 1-128 characters of A-Z a-z 0-9 . _ ~ -")
        }
        // A client's own tokens carry its id as `sub`; one shaped like a user id could pass for a user.
        guard UUID(uuidString: clientID) == nil else {
            throw SignetError.invalid(field: "client_id", reason: "must not be a UUID (user ids are UUIDs)")
        }
        if let name = request.clientName, name.isEmpty || name.utf8.count > 256 || name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw SignetError.invalid(field: "client_name", reason: "must be 1-256 bytes without control characters")
        }
        guard !request.grantTypes.isEmpty else {
            throw SignetError.invalid(field: "grant_types", reason: "must name at least one of \(GrantType.names)")
        }
        if request.authMethod == .none && request.grantTypes.contains(.clientCredentials) {
            throw SignetError.invalid(field: "grant_types", reason: "client_credentials needs a confidential client")
        }
        for scope in request.scopes where !Scope.isValidToken(scope) {
            throw SignetError.invalid(field: "scope", reason: "\"\(scope)\" is not a valid scope token")
        }
        if let audience = request.audience,
           audience.isEmpty || audience.utf8.count > 256
            || audience.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control })
        {
            throw SignetError.invalid(field: "audience", reason: "must be 1-256 bytes without spaces or control characters")
        }
        if let seconds = request.accessTokenLifetime, !(10...lifetimes.accessTokenSeconds).contains(seconds) {
            throw SignetError.invalid(field: "access_token_lifetime", reason: "must be 10...\(lifetimes.accessTokenSeconds) seconds")
        }
        if let seconds = request.refreshTokenLifetime, !(60...lifetimes.refreshAbsoluteSeconds).contains(seconds) {
            throw SignetError.invalid(field: "refresh_token_lifetime", reason: "must be 60...\(lifetimes.refreshAbsoluteSeconds) seconds")
        }
        try RedirectURI.validate(request.redirectURIs, field: "redirect_uris")
        try RedirectURI.validate(request.postLogoutRedirectURIs, field: "post_logout_redirect_uris")
        if request.grantTypes.contains(.authorizationCode) && request.redirectURIs.isEmpty {
            throw SignetError.invalid(field: "redirect_uris", reason: "are required for the authorization_code grant")
        }
        if request.authMethod == .none && request.requirePKCE == false {
            throw SignetError.invalid(field: "require_pkce", reason: "cannot be false for a public client")
        }
        guard [.rs256, .es256].contains(request.idTokenAlgorithm) else {
            throw SignetError.invalid(field: "id_token_signed_response_alg", reason: "must be RS256 or ES256")
        }
        var networks: [IPNetwork] = []
        for text in request.allowedNetworks {
            do {
                networks.append(try IPNetwork(parsing: text))
            } catch {
                throw SignetError.invalid(field: "allowed_networks", reason: error.description)
            }
        }
        guard networks.count <= 100 else { throw SignetError.invalid(field: "allowed_networks", reason: "may list at most 100 networks") }
        let (idTokenEncryption, accessTokenEncryption) = try Self.encryption(of: request)
        let secret = request.authMethod == .none ? nil : Self.randomToken(bytes: 32)
        let client = try await store.create(
            Client(
                clientID: clientID, clientName: request.clientName, authMethod: request.authMethod,
                grantTypes: Array(Set(request.grantTypes)).sorted { $0.rawValue < $1.rawValue },
                scopes: Scope.unique(request.scopes), audience: request.audience,
                accessTokenLifetime: request.accessTokenLifetime, refreshTokenLifetime: request.refreshTokenLifetime,
                redirectURIs: request.redirectURIs, postLogoutRedirectURIs: request.postLogoutRedirectURIs,
                requirePKCE: request.requirePKCE ?? true, skipConsent: request.skipConsent,
                idTokenAlgorithm: request.idTokenAlgorithm, requireMFA: request.requireMFA, allowedNetworks: Array(Set(networks))
                    .sorted { $0.description < $1.description }, jwks: request.jwks, idTokenEncryption: idTokenEncryption,
                accessTokenEncryption: accessTokenEncryption, dpopBoundAccessTokens: request.dpopBoundAccessTokens, createdAt: Date()),
            secretHash: secret.map(hash))
        var event = actor ?? AuditEvent("client_created")
        event.type = "client_created"
        event.clientID = client.clientID
        try await audit.record(event)
        return (client, secret)
    }

    /// The registered client with this id, if any (from the cache every node keeps current).
    public func find(clientID: String) async throws -> Client? {
        try await find(clientID)?.client
    }

    /// Removes a client, and with it its sessions and every token it holds; records
    /// `client_deleted` with `origin`. Whether it existed.
    public func delete(clientID: String, origin: RequestOrigin) async throws -> Bool {
        try await store.delete(clientID: clientID, event: origin.event("client_deleted", clientID: clientID))
    }

    /// The client these credentials prove, or ``SignetError/invalidClient``.
    ///
    /// A confidential client must present its secret the way it registered
    /// (`token_endpoint_auth_method`: Basic or body); a public client must not present one.
    /// The encryption settings of a registration, checked against its `jwks`: each needs a public
    /// key with `use: enc` (or no `use`) for its algorithm; private keys are refused outright.
    static func encryption(of request: Registration) throws(SignetError) -> (idToken: TokenEncryption?, accessToken: TokenEncryption?) {
        let idToken = try TokenEncryption.parse(
            alg: request.idTokenEncryptedResponseAlg, enc: request.idTokenEncryptedResponseEnc, members: "id_token_encrypted_response")
        let accessToken = try TokenEncryption.parse(
            alg: request.accessTokenEncryptedResponseAlg, enc: request.accessTokenEncryptedResponseEnc,
            members: "access_token_encrypted_response")
        guard let text = request.jwks else {
            if idToken != nil || accessToken != nil { throw SignetError.invalidClientMetadata("token encryption needs the client's jwks") }
            return (nil, nil)
        }
        guard text.utf8.count <= 16_384, let set = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let keys = set["keys"] as? [[String: Any]], !keys.isEmpty, keys.count <= 20
        else { throw SignetError.invalidClientMetadata("jwks must be a JWK Set ({\"keys\":[…]}) of 1-20 keys, at most 16 KiB") }
        for key in keys where ["d", "p", "q", "dp", "dq", "qi", "k"].contains(where: { key[$0] != nil }) {
            throw SignetError.invalidClientMetadata("jwks must hold public keys only")
        }
        for setting in [idToken, accessToken].compactMap({ $0 }) {
            do {
                _ = try EncryptionKey.select(from: set, for: setting.algorithm)
            } catch {
                throw SignetError.invalidClientMetadata(error.description)
            }
        }
        return (idToken, accessToken)
    }

    /// Authenticates the client and, when it names networks, admits it only from `address`:
    /// otherwise `403 access_denied`, audited `client_network_refused` (with `origin`).
    public func authenticate(_ credentials: ClientCredentials, from address: IPAddress?, origin: RequestOrigin) async throws -> Client {
        let client = try await authenticate(credentials)
        guard client.admits(address) else {
            try await audit.record(origin.event(
                "client_network_refused", clientID: client.clientID, detail: ["address": address?.description ?? "unknown"]))
            throw SignetError(.accessDenied, "this client may not be used from this address", kind: .forbidden)
        }
        return client
    }

    public func authenticate(_ credentials: ClientCredentials) async throws -> Client {
        guard let (client, storedHash) = try await find(credentials.clientID) else {
            throw SignetError.invalidClient
        }
        switch credentials {
        case .basic(_, let secret), .post(_, let secret):
            let method: ClientAuthMethod = if case .basic = credentials { .clientSecretBasic } else { .clientSecretPost }
            guard let storedHash, constantTimeEqual(Array(hash(secret).utf8), Array(storedHash.utf8)), client.authMethod == method else {
                throw SignetError.invalidClient
            }
        case .none:
            guard !client.isConfidential else { throw SignetError.invalidClient }
        }
        return client
    }

    /// The client from the cache, or from the database (and then cached).
    private func find(_ clientID: String) async throws -> (client: Client, secretHash: String?)? {
        if let cached = cache[clientID] {
            return cached.client.map { ($0, cached.secretHash) }
        }
        let generation = cache.generation
        let found = try await store.find(clientID: clientID)
        cache.store(CachedClient(client: found?.client, secretHash: found?.secretHash), for: clientID, ifStill: generation)
        return found
    }

    private func hash(_ secret: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(secret.utf8), using: secretKey)).base64URLEncodedString()
    }

    /// `count` random bytes (a multiple of 8) from the system generator, base64url.
    static func randomToken(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = Data(capacity: count)
        for _ in 0..<(count + 7) / 8 {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return bytes.prefix(count).base64URLEncodedString()
    }
}
