import Foundation
import Hummingbird
import SignetCore

/// The admin API of API.md: users, their sessions, clients, revocations, key rotation and the
/// audit trail. Mounted only on the admin listener, behind ``AdminAuthMiddleware``.
struct AdminController: Sendable {
    let services: TokenServices

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.post("admin/users", use: createUser)
        routes.get("admin/users/:id", use: readUser)
        routes.patch("admin/users/:id", use: updateUser)
        routes.delete("admin/users/:id", use: deleteUser)
        routes.delete("admin/users/:id/mfa", use: resetMFA)
        routes.get("admin/users/:id/sessions", use: sessions)
        routes.get("admin/users/:id/consents", use: consents)
        routes.delete("admin/users/:id/consents/:client_id", use: withdrawConsent)
        routes.post("admin/clients", use: createClient)
        routes.get("admin/clients/:id", use: readClient)
        routes.delete("admin/clients/:id", use: deleteClient)
        routes.post("admin/revocations", use: revoke)
        routes.get("admin/revocations", use: revocationList)
        routes.post("admin/keys/rotate", use: rotateKeys)
        routes.get("admin/audit", use: audit)
        return routes
    }

    private var users: UserAccounts { services.environment.users }
    private var settings: Settings { services.environment.settings }
    private var bodyLimit: Int { settings.http.adminBodyLimit }

    // MARK: users

    struct UserOut: Encodable {
        var id: String
        var username: String
        var email: String?
        var roles: [String]
        var disabled: Bool
        var created_at: String
        /// Only when one user is read: whether they have TOTP and how many recovery codes are left.
        var mfa: MFAOut?

        struct MFAOut: Encodable {
            var totp: Bool
            var recovery_codes_left: Int
        }

        init(_ user: User, mfa: SecondFactorStore.Status? = nil) {
            self.mfa = mfa.map { MFAOut(totp: $0.totp, recovery_codes_left: $0.recoveryCodesLeft) }
            id = user.id.uuidString.lowercased()
            username = user.username
            email = user.email
            roles = user.roles
            disabled = user.disabled
            created_at = isoString(user.createdAt)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(username, forKey: .username)
            try container.encode(email, forKey: .email)  // null when unset, never missing
            try container.encode(roles, forKey: .roles)
            try container.encode(disabled, forKey: .disabled)
            try container.encode(created_at, forKey: .created_at)
            try container.encodeIfPresent(mfa, forKey: .mfa)
        }

        enum CodingKeys: String, CodingKey { case id, username, email, roles, disabled, created_at, mfa }
    }

    struct UserIn: Decodable {
        var username: String
        var password: String
        var email: String?
        var roles: [String]?
    }

    struct UserPatch: Decodable {
        var password: String?
        var roles: [String]?
        var disabled: Bool?
    }

    @Sendable func createUser(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let input = try await StrictJSON.decode(UserIn.self, from: request, allowed: ["username", "password", "email", "roles"], limit: bodyLimit)
        let user = try await users.create(
            .init(username: input.username, password: input.password, email: input.email, roles: input.roles ?? []),
            origin: context.origin)
        return try jsonResponse(UserOut(user), status: .created, headers: [.location: "/admin/users/\(user.id.uuidString.lowercased())"])
    }

    @Sendable func readUser(_ request: Request, context: SignetRequestContext) async throws -> Response {
        guard let user = try await users.find(id: try context.uuid("id", "user")) else { throw SignetError.notFound("user") }
        return try jsonResponse(UserOut(user, mfa: try await services.secondFactor.status(userID: user.id)))
    }

    /// Removes the user's second factor (TOTP and recovery codes) and ends their sessions; their
    /// next sign-in sets one up again if a policy requires it.
    @Sendable func resetMFA(_ request: Request, context: SignetRequestContext) async throws -> Response {
        guard try await services.secondFactor.reset(userID: try context.uuid("id", "user"), origin: context.origin) else {
            throw SignetError.notFound("user")
        }
        return Response(status: .noContent)
    }

    @Sendable func updateUser(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let id = try context.uuid("id", "user")
        let patch = try await StrictJSON.decode(UserPatch.self, from: request, allowed: ["password", "roles", "disabled"], limit: bodyLimit)
        let user = try await users.update(
            id: id, .init(password: patch.password, roles: patch.roles, disabled: patch.disabled), origin: context.origin)
        return try jsonResponse(UserOut(user))
    }

    @Sendable func deleteUser(_ request: Request, context: SignetRequestContext) async throws -> Response {
        guard try await users.delete(id: try context.uuid("id", "user"), origin: context.origin) else {
            throw SignetError.notFound("user")
        }
        return Response(status: .noContent)
    }

    struct SessionsOut: Encodable {
        struct Session: Encodable {
            var id: String
            var client_id: String
            var scope: String
            var created_at: String
            var last_used_at: String
            var expires_at: String
        }

        struct BrowserSession: Encodable {
            var id: String
            var auth_time: String
            var amr: [String]
            var created_at: String
            var last_used_at: String
            var expires_at: String
        }

        var sessions: [Session]
        /// Signed-in browsers (single sign-on); each `id` is the `sid` of its ID tokens.
        var browser_sessions: [BrowserSession]
    }

    @Sendable func sessions(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let id = try context.uuid("id", "user")
        guard try await users.find(id: id) != nil else { throw SignetError.notFound("user") }
        let live = try await services.sessions.live(userID: id, idleLifetime: settings.lifetimes.refreshIdleSeconds)
        let browsers = try await services.signIn.browserSessions(userID: id)
        return try jsonResponse(SessionsOut(
            sessions: live.map {
                .init(
                    id: $0.id.uuidString.lowercased(), client_id: $0.clientID, scope: $0.scope, created_at: isoString($0.createdAt),
                    last_used_at: isoString($0.lastUsedAt), expires_at: isoString($0.expiresAt))
            },
            browser_sessions: browsers.map {
                .init(
                    id: $0.id.uuidString.lowercased(), auth_time: isoString($0.authTime), amr: $0.amr, created_at: isoString($0.createdAt),
                    last_used_at: isoString($0.lastSeenAt), expires_at: isoString($0.expiresAt))
            }))
    }

    // MARK: consents

    struct ConsentsOut: Encodable {
        struct Consent: Encodable {
            var client_id: String
            var scope: String
            var granted_at: String
        }

        var consents: [Consent]
    }

    @Sendable func consents(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let id = try context.uuid("id", "user")
        guard try await users.find(id: id) != nil else { throw SignetError.notFound("user") }
        let consents = try await services.signIn.consents(userID: id)
        return try jsonResponse(ConsentsOut(consents: consents.map {
            .init(client_id: $0.clientID, scope: $0.scopes.joined(separator: " "), granted_at: isoString($0.grantedAt))
        }))
    }

    @Sendable func withdrawConsent(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let id = try context.uuid("id", "user")
        guard let clientID = context.parameters.get("client_id"),
              try await services.signIn.withdrawConsent(userID: id, clientID: clientID, origin: context.origin)
        else { throw SignetError.notFound("consent") }
        return Response(status: .noContent)
    }

    // MARK: clients

    struct ClientIn: Decodable {
        var client_id: String?
        var client_name: String?
        var token_endpoint_auth_method: String?
        var grant_types: [String]
        var scope: String?
        var audience: String?
        var redirect_uris: [String]?
        var post_logout_redirect_uris: [String]?
        var response_types: [String]?
        var require_pkce: Bool?
        var skip_consent: Bool?
        var id_token_signed_response_alg: String?
        var require_mfa: Bool?
        var allowed_networks: [String]?
        var jwks: JSONValue?
        var id_token_encrypted_response_alg: String?
        var id_token_encrypted_response_enc: String?
        var access_token_encrypted_response_alg: String?
        var access_token_encrypted_response_enc: String?
        var dpop_bound_access_tokens: Bool?
    }

    /// RFC 7591 client metadata; `client_secret` only in the response that created it.
    struct ClientOut: Encodable {
        var client_id: String
        var client_name: String?
        var token_endpoint_auth_method: String
        var grant_types: [String]
        var scope: String
        var audience: String?
        var client_id_issued_at: Int
        var client_secret: String?
        var client_secret_expires_at: Int?
        var redirect_uris: [String]
        var post_logout_redirect_uris: [String]
        var response_types: [String]
        var require_pkce: Bool
        var skip_consent: Bool
        var id_token_signed_response_alg: String
        var require_mfa: Bool
        var allowed_networks: [String]
        var jwks: JSONValue?
        var id_token_encrypted_response_alg: String?
        var id_token_encrypted_response_enc: String?
        var access_token_encrypted_response_alg: String?
        var access_token_encrypted_response_enc: String?
        var dpop_bound_access_tokens: Bool

        init(_ client: Client, secret: String? = nil) {
            dpop_bound_access_tokens = client.dpopBoundAccessTokens
            jwks = client.jwks.flatMap(JSONValue.init(text:))
            id_token_encrypted_response_alg = client.idTokenEncryption?.algorithm.rawValue
            id_token_encrypted_response_enc = client.idTokenEncryption?.encryption.rawValue
            access_token_encrypted_response_alg = client.accessTokenEncryption?.algorithm.rawValue
            access_token_encrypted_response_enc = client.accessTokenEncryption?.encryption.rawValue
            require_mfa = client.requireMFA
            allowed_networks = client.allowedNetworks.map(\.description)
            redirect_uris = client.redirectURIs
            post_logout_redirect_uris = client.postLogoutRedirectURIs
            response_types = client.allows(.authorizationCode) ? ["code"] : []
            require_pkce = client.requirePKCE
            skip_consent = client.skipConsent
            id_token_signed_response_alg = client.idTokenAlgorithm.rawValue
            client_id = client.clientID
            client_name = client.clientName
            token_endpoint_auth_method = client.authMethod.rawValue
            grant_types = client.grantTypes.map(\.rawValue)
            scope = client.scopes.joined(separator: " ")
            audience = client.audience
            client_id_issued_at = Int(client.createdAt.timeIntervalSince1970)
            client_secret = secret
            client_secret_expires_at = secret == nil ? nil : 0
        }
    }

    @Sendable func createClient(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let input = try await StrictJSON.decode(
            ClientIn.self, from: request,
            allowed: [
                "client_id", "client_name", "token_endpoint_auth_method", "grant_types", "scope", "audience", "redirect_uris",
                "post_logout_redirect_uris", "response_types", "require_pkce", "skip_consent", "id_token_signed_response_alg",
                "require_mfa", "allowed_networks", "jwks", "id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
                "access_token_encrypted_response_alg", "access_token_encrypted_response_enc", "dpop_bound_access_tokens",
            ], limit: bodyLimit)
        guard let method = ClientAuthMethod(rawValue: input.token_endpoint_auth_method ?? ClientAuthMethod.clientSecretBasic.rawValue) else {
            throw SignetError.invalidRequest("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post")
        }
        let grants = try input.grant_types.map { name in
            guard let grant = GrantType(rawValue: name) else {
                throw SignetError.invalidRequest("grant_types: \(name) is not one of \(GrantType.names)")
            }
            return grant
        }
        guard let scopes = Scope.parse(input.scope ?? "openid profile") else {
            throw SignetError.invalidRequest("scope must be space-separated scope tokens")
        }
        if let types = input.response_types, types != (grants.contains(.authorizationCode) ? ["code"] : []) && types != [] {
            throw SignetError.invalid(field: "response_types", reason: "must be [\"code\"] with the authorization_code grant (the only response type)")
        }
        var idTokenAlgorithm = SigningAlgorithm.rs256
        if let name = input.id_token_signed_response_alg {
            guard let algorithm = SigningAlgorithm(rawValue: name), [.rs256, .es256].contains(algorithm) else {
                throw SignetError.invalid(field: "id_token_signed_response_alg", reason: "must be RS256 or ES256")
            }
            idTokenAlgorithm = algorithm
        }
        let (client, secret) = try await services.clients.register(
            .init(clientID: input.client_id, clientName: input.client_name, authMethod: method, grantTypes: grants, scopes: scopes,
                  audience: input.audience, redirectURIs: input.redirect_uris ?? [],
                  postLogoutRedirectURIs: input.post_logout_redirect_uris ?? [], requirePKCE: input.require_pkce,
                  skipConsent: input.skip_consent ?? false, idTokenAlgorithm: idTokenAlgorithm, requireMFA: input.require_mfa ?? false,
                  allowedNetworks: input.allowed_networks ?? [], jwks: input.jwks.map(\.text),
                  idTokenEncryptedResponseAlg: input.id_token_encrypted_response_alg,
                  idTokenEncryptedResponseEnc: input.id_token_encrypted_response_enc,
                  accessTokenEncryptedResponseAlg: input.access_token_encrypted_response_alg,
                  accessTokenEncryptedResponseEnc: input.access_token_encrypted_response_enc,
                  dpopBoundAccessTokens: input.dpop_bound_access_tokens ?? false),
            lifetimes: settings.lifetimes, actor: context.origin.event("client_created"))
        return try jsonResponse(ClientOut(client, secret: secret), status: .created, headers: [
            .location: "/admin/clients/\(client.clientID)", .cacheControl: "no-store",
        ])
    }

    @Sendable func readClient(_ request: Request, context: SignetRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id"), let client = try await services.clients.find(clientID: id) else {
            throw SignetError.notFound("client")
        }
        return try jsonResponse(ClientOut(client))
    }

    @Sendable func deleteClient(_ request: Request, context: SignetRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id"), try await services.clients.delete(clientID: id, origin: context.origin) else {
            throw SignetError.notFound("client")
        }
        return Response(status: .noContent)
    }

    // MARK: revocations

    struct RevocationIn: Decodable {
        var jti: String?
        var session_id: String?
        var user_id: String?
        var token: String?
    }

    @Sendable func revoke(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let input = try await StrictJSON.decode(RevocationIn.self, from: request, allowed: ["jti", "session_id", "user_id", "token"], limit: bodyLimit)
        let given = [input.jti, input.session_id, input.user_id, input.token].compactMap { $0 }
        guard given.count == 1 else {
            throw SignetError.invalidRequest("give exactly one of jti, session_id, user_id, token")
        }
        let selector: Revocations.Selector
        if let jti = input.jti {
            selector = .jti(jti)
        } else if let text = input.session_id {
            guard let id = UUID(uuidString: text) else { throw SignetError.notFound("session") }
            selector = .session(id)
        } else if let text = input.user_id {
            guard let id = UUID(uuidString: text) else { throw SignetError.notFound("user") }
            selector = .user(id)
        } else {
            selector = .token(input.token ?? "")
        }
        try await services.revocations.revoke(selector, origin: context.origin)
        var echo = input
        echo.token = nil  // never echo a token back
        return try jsonResponse(["revoked": RevokedEcho(echo, tokenGiven: input.token != nil)], status: .created)
    }

    struct RevokedEcho: Encodable {
        var jti: String?
        var session_id: String?
        var user_id: String?
        var token: Bool?

        init(_ input: RevocationIn, tokenGiven: Bool) {
            jti = input.jti
            session_id = input.session_id?.lowercased()
            user_id = input.user_id?.lowercased()
            token = tokenGiven ? true : nil
        }
    }

    struct RevocationListOut: Encodable {
        struct Token: Encodable {
            var jti: String
            var expires_at: String
        }

        struct Session: Encodable {
            var session_id: String
            var revoked_at: String
            var reason: String
        }

        var revoked_tokens: [Token]
        var revoked_sessions: [Session]
        var next_tokens_after: String?
        var next_sessions_before: String?
    }

    @Sendable func revocationList(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let limit = try request.limit()
        let tokensAfter = try request.query("tokens_after")
        let sessionsBefore = try request.query("sessions_before", maximumBytes: 512).map { text in
            guard let cursor = RevocationStore.SessionCursor(text) else { throw SignetError.invalidRequest("sessions_before is not a cursor") }
            return cursor
        }
        let (tokens, sessions) = try await services.revocations.list(
            tokensAfter: tokensAfter, sessionsBefore: sessionsBefore, limit: limit)
        return try jsonResponse(RevocationListOut(
            revoked_tokens: tokens.map { .init(jti: $0.jti, expires_at: isoString($0.expiresAt)) },
            revoked_sessions: sessions.map {
                .init(session_id: $0.sessionID.uuidString.lowercased(), revoked_at: isoString($0.revokedAt), reason: $0.reason)
            },
            next_tokens_after: tokens.count == limit ? tokens.last?.jti : nil,
            next_sessions_before: sessions.count == limit ? sessions.last?.cursor.text : nil))
    }

    // MARK: keys and audit

    struct RotationOut: Encodable {
        var current: String
        var next: String
    }

    @Sendable func rotateKeys(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let force = try request.query("force") == "true"
        switch try await services.keys.rotate(force: force, origin: context.origin) {
        case .rotated(let current, let next):
            return try jsonResponse(RotationOut(current: current, next: next))
        case .alreadyRotated:
            throw SignetError.conflict("another rotation happened at the same time; retry")
        case .nextTooNew(let seconds):
            throw SignetError.conflict(
                "the next key was published \(seconds)s ago, less than the JWKS max-age; gateways may not have it (add ?force=true)")
        }
    }

    struct AuditOut: Encodable {
        struct Event: Encodable {
            var id: Int64
            var type: String
            var at: String
            var user_id: String?
            var client_id: String?
            var session_id: String?
            var remote_addr: String?
            var detail: [String: String]

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(id, forKey: .id)
                try container.encode(type, forKey: .type)
                try container.encode(at, forKey: .at)
                try container.encode(user_id, forKey: .user_id)
                try container.encode(client_id, forKey: .client_id)
                try container.encode(session_id, forKey: .session_id)
                try container.encode(remote_addr, forKey: .remote_addr)
                try container.encode(detail, forKey: .detail)
            }

            enum CodingKeys: String, CodingKey { case id, type, at, user_id, client_id, session_id, remote_addr, detail }
        }

        var events: [Event]
        var next_before: Int64?
    }

    @Sendable func audit(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let limit = try request.limit()
        var userID: UUID?
        if let text = try request.query("user_id") {
            guard let id = UUID(uuidString: text) else { throw SignetError.invalidRequest("user_id must be a UUID") }
            userID = id
        }
        var before: Int64?
        if let text = try request.query("before") {
            guard let id = Int64(text) else { throw SignetError.invalidRequest("before must be an event id") }
            before = id
        }
        let entries = try await services.audit.events(userID: userID, type: try request.query("type"), beforeID: before, limit: limit)
        return try jsonResponse(AuditOut(
            events: entries.map {
                .init(
                    id: $0.id, type: $0.event.type, at: isoString($0.at), user_id: $0.event.userID?.uuidString.lowercased(),
                    client_id: $0.event.clientID, session_id: $0.event.sessionID?.uuidString.lowercased(),
                    remote_addr: $0.event.remoteAddress, detail: $0.event.detail)
            },
            next_before: entries.count == limit ? entries.last?.id : nil))
    }
}
