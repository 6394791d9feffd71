import Foundation

/// Revocation (RFC 7009 for clients, and every selector of the admin API). Revoking a refresh
/// token ends its session; revoking an access token puts its `jti` on the list until it expires.
public struct Revocations: Sendable {
    let store: RevocationStore
    let sessions: SessionStore
    let browserSessions: BrowserSessionStore
    let verifier: TokenVerifier
    let masterKey: MasterKey
    let accessLifetime: Int
    let metrics: SignetMetrics

    public init(
        store: RevocationStore, sessions: SessionStore, verifier: TokenVerifier, masterKey: MasterKey, settings: Settings,
        metrics: SignetMetrics = .none
    ) {
        self.metrics = metrics
        self.store = store
        self.sessions = sessions
        self.browserSessions = BrowserSessionStore(database: sessions.database)
        self.verifier = verifier
        self.masterKey = masterKey
        self.accessLifetime = settings.lifetimes.accessTokenSeconds
    }

    /// RFC 7009 §2.1: a client revokes one of its own tokens. Unknown tokens, other clients'
    /// tokens and expired tokens are accepted silently (the answer is always 200).
    public func revoke(token: String, client: Client, origin: RequestOrigin) async throws {
        if let refresh = RefreshToken(verifying: token, with: masterKey) {
            guard let owner = try await sessions.owner(sessionID: refresh.sessionID), owner.clientID == client.clientID else { return }
            try await sessions.revoke(
                sessionID: refresh.sessionID, reason: "revoked_by_client",
                event: origin.event("session_revoked", userID: owner.userID, clientID: client.clientID, sessionID: refresh.sessionID,
                                    detail: ["via": "refresh_token"]))
            metrics.revoked("session")
            return
        }
        guard let claims = try? await verifier.authentic(token), claims.client_id == client.clientID else { return }
        try await revokeAccessToken(claims, origin: origin)
    }

    /// What an admin revokes: exactly one of these.
    public enum Selector: Sendable, Equatable {
        case jti(String)
        case session(UUID)
        case user(UUID)
        case token(String)
    }

    /// The admin API's revocation. Throws ``SignetError`` not found for an unknown session or
    /// user, and ``SignetError`` (invalid input) for a token that was not issued here.
    public func revoke(_ selector: Selector, origin: RequestOrigin) async throws {
        switch selector {
        case .jti(let jti):
            guard !jti.isEmpty, jti.utf8.count <= 256, !jti.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw SignetError.invalid(field: "jti", reason: "must be 1-256 bytes without control characters") }
            // Signet keeps no record of issued jtis: list it for as long as any token can live.
            try await store.revoke(
                jti: jti, expiresAt: Date().addingTimeInterval(TimeInterval(accessLifetime + 60)), sessionID: nil,
                reason: "revoked_by_admin", event: origin.event("access_token_revoked", detail: ["jti": jti]))
            metrics.revoked("access_token")
        case .session(let id):
            guard let owner = try await sessions.owner(sessionID: id) else {
                // A browser session (single sign-on): it ends with every refresh family started from it.
                guard let userID = try await browserSessions.owner(id: id) else { throw SignetError.notFound("session or user") }
                try await browserSessions.end(
                    id: id, reason: "revoked_by_admin", event: origin.event("session_revoked", userID: userID, detail: ["kind": "browser"]))
                metrics.revoked("session")
                return
            }
            try await sessions.revoke(
                sessionID: id, reason: "revoked_by_admin",
                event: origin.event("session_revoked", userID: owner.userID, clientID: owner.clientID, sessionID: id))
            metrics.revoked("session")
        case .user(let id):
            guard try await store.revokeUser(id: id, reason: "revoked_by_admin", event: origin.event("user_tokens_revoked")) else {
                throw SignetError.notFound("session or user")
            }
            metrics.revoked("user")
        case .token(let token):
            if let refresh = RefreshToken(verifying: token, with: masterKey) {
                try await revoke(.session(refresh.sessionID), origin: origin)
            } else if let claims = try? await verifier.authentic(token) {
                try await revokeAccessToken(claims, origin: origin)
            } else {
                throw SignetError.invalid(field: "token", reason: "is not a live token issued by this server")
            }
        }
    }

    /// One page of the revocation list: revoked access tokens after `tokensAfter` (by `jti`) and
    /// revoked sessions before `sessionsBefore` (newest first), `limit` of each.
    public func list(
        tokensAfter: String?, sessionsBefore: RevocationStore.SessionCursor?, limit: Int
    ) async throws -> (tokens: [RevokedToken], sessions: [RevokedSession]) {
        (try await store.tokens(after: tokensAfter, limit: limit), try await store.sessions(before: sessionsBefore, limit: limit))
    }

    private func revokeAccessToken(_ claims: AccessTokenClaims, origin: RequestOrigin) async throws {
        let sessionID = claims.sid.flatMap(UUID.init(uuidString:))
        try await store.revoke(
            jti: claims.jti, expiresAt: Date(timeIntervalSince1970: TimeInterval(claims.exp)), sessionID: sessionID,
            reason: "revoked",
            event: origin.event(
                "access_token_revoked", userID: claims.userID, clientID: claims.client_id,
                sessionID: sessionID, detail: ["jti": claims.jti]))
        metrics.revoked("access_token")
    }
}

