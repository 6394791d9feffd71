import Foundation
import JWTKit
import Logging

/// The three grants of the token endpoint. Each validates what the client asked for, checks the
/// user or session, and mints tokens; refusals are ``SignetError``s.
public struct TokenGrants: Sendable {
    let users: UserAccounts
    let sessions: SessionStore
    let codes: AuthorizationCodeStore
    let secondFactor: SecondFactor
    let audit: AuditLog
    let issuer: TokenIssuer
    let masterKey: MasterKey
    let lifetimes: Settings.Lifetimes
    let lockout: Settings.Lockout
    let metrics: SignetMetrics
    let logger: Logger

    public init(
        users: UserAccounts, sessions: SessionStore, issuer: TokenIssuer, masterKey: MasterKey, secondFactor: SecondFactor,
        settings: Settings, metrics: SignetMetrics = .none, logger: Logger
    ) {
        self.secondFactor = secondFactor
        self.audit = AuditLog(database: sessions.database)
        self.users = users
        self.sessions = sessions
        self.codes = AuthorizationCodeStore(database: sessions.database)
        self.issuer = issuer
        self.masterKey = masterKey
        self.lifetimes = settings.lifetimes
        self.lockout = settings.lockout
        self.metrics = metrics
        self.logger = logger
    }

    /// `grant_type=password` (RFC 6749 §4.3): for first-party clients explicitly allowed it.
    ///
    /// The access token is signed before anything is committed, then the login is completed in one
    /// statement that creates the session (or, without one, re-checks the account) only if the
    /// user still has the verified credential; a password change, disabling or revocation that
    /// wins the race makes the login fail like a wrong password, and one that comes after it ends
    /// the session (its generation moves on) or the token (its `iat` is not after the cut-off).
    ///
    /// An account with TOTP must also send its current code (or a recovery code) as `totp`, as
    /// Keycloak's direct grant does; a missing or wrong one is refused after the same work as a
    /// wrong password, and counts as a failed attempt.
    public func password(
        client: Client, username: String, password: String, totp: String? = nil, scope: String?, source: String,
        dpop: DPoPProof? = nil, origin: RequestOrigin
    ) async throws -> TokenResponse {
        guard client.allows(.password) else {
            throw SignetError(.unauthorizedClient, "this client may not use the password grant")
        }
        try Self.requireProof(dpop, for: client)
        let scopes = try Self.requested(scope, allowed: client.scopes)
        let response = try await users.login(
            username: username, password: password, source: source, lockout: lockout,
            failureEvent: AuditEvent("login_failed", clientID: client.clientID, remoteAddress: origin.remoteAddress), metrics: metrics
        ) { attempt in
            let (amr, acr) = try await secondStep(of: attempt, client: client, totp: totp, origin: origin)
            return try await tokens(for: attempt, client: client, scopes: scopes, amr: amr, acr: acr, dpop: dpop, origin: origin)
        }
        guard let response else { throw SignetError.invalidCredentials }
        metrics.tokenIssued("password")
        return response
    }

    /// The second factor of a password-grant login whose password matched: the methods and level
    /// it reached, or a refusal (`mfa_failed` audited for a wrong code).
    private func secondStep(
        of attempt: LoginAttempt, client: Client, totp: String?, origin: RequestOrigin
    ) async throws -> (amr: [String], acr: String) {
        let userID = attempt.user.id
        guard attempt.hasTOTP else {
            if client.requireMFA { throw SignetError.secondFactorNotSetUp }
            return (["pwd"], "1")
        }
        guard let totp, !totp.isEmpty else { throw SignetError.secondFactorRequired }
        let event = AuditEvent("mfa_verified", userID: userID, clientID: client.clientID, remoteAddress: origin.remoteAddress)
        let check = try await secondFactor.check(totp, userID: userID, event: event)
        var recorded = event
        switch check {
        case .refused(let reason):
            recorded.type = "mfa_failed"
            recorded.detail["reason"] = reason
            try await audit.record(recorded)
            throw SignetError.invalidCredentials
        case .otp, .recoveryCode:
            recorded.detail["method"] = check == .otp ? "totp" : "recovery_code"
            try await audit.record(recorded)
            return (check.amr, "2")
        }
    }

    /// Signs the access token of a verified password login, then completes the login (with its
    /// refresh family, if the client has the grant); `nil` when the account changed in between.
    private func tokens(
        for attempt: LoginAttempt, client: Client, scopes: [String], amr: [String], acr: String, dpop: DPoPProof?,
        origin: RequestOrigin
    ) async throws -> TokenResponse? {
        let scopeText = scopes.joined(separator: " ")
        let authTime = Date()
        let session = client.allows(.refreshToken)
            ? NewSession(
                id: UUID(), clientID: client.clientID, scope: scopeText, authTime: authTime,
                absoluteLifetime: min(client.refreshTokenLifetime ?? lifetimes.refreshAbsoluteSeconds, lifetimes.refreshAbsoluteSeconds),
                amr: amr, acr: acr, dpopJKT: Self.familyBinding(dpop, for: client))
            : nil
        let access = try await issuer.issue(
            subject: attempt.user.id.uuidString.lowercased(), subjectType: .user, client: client, scope: scopeText,
            sessionID: session?.id, roles: attempt.user.roles, authTime: authTime, amr: amr, acr: acr, dpopJKT: dpop?.jkt)
        guard try await users.complete(
            attempt, session: session,
            event: AuditEvent("login_succeeded", userID: attempt.user.id, clientID: client.clientID, remoteAddress: origin.remoteAddress))
        else { return nil }
        let refresh = session.map { RefreshToken(sessionID: $0.id, counter: 0).encoded(with: masterKey) }
        return TokenResponse(
            accessToken: access.token, expiresIn: access.expiresIn, refreshToken: refresh, scope: scopeText, tokenType: Self.tokenType(dpop))
    }

    /// `grant_type=refresh_token` (RFC 6749 §6): rotates; a spent token revokes its whole session.
    /// A public client's family bound to a DPoP key refreshes only with a proof by that key.
    public func refresh(
        client: Client, refreshToken: String, scope: String?, dpop: DPoPProof? = nil, origin: RequestOrigin
    ) async throws -> TokenResponse {
        guard client.allows(.refreshToken) else {
            throw SignetError(.unauthorizedClient, "this client may not use the refresh_token grant")
        }
        try Self.requireProof(dpop, for: client)
        guard let token = RefreshToken(verifying: refreshToken, with: masterKey) else {
            throw SignetError(.invalidGrant, "refresh token is not valid")
        }
        let outcome = try await sessions.rotate(
            sessionID: token.sessionID, presentedCounter: token.counter, clientID: client.clientID,
            idleLifetime: lifetimes.refreshIdleSeconds, graceSeconds: lifetimes.refreshReuseGraceSeconds, dpopJKT: dpop?.jkt,
            origin: origin)
        switch outcome {
        case .rotated(let grant), .graceReplay(let grant):
            if case .graceReplay = outcome { metrics.refresh("grace_replay") } else { metrics.refresh("rotated") }
            metrics.tokenIssued("refresh_token")
            let sessionScopes = grant.scope.split(separator: " ").map(String.init)
            let scopes = try Self.requested(scope, allowed: sessionScopes)
            return try await tokens(for: grant, client: client, scope: scopes.joined(separator: " "), dpop: dpop)
        case .reused:
            metrics.refresh("reused")
            metrics.reuseDetected()
            logger.notice("refresh token reuse: session revoked", metadata: ["session_id": "\(token.sessionID.uuidString.lowercased())"])
            throw SignetError(.invalidGrant, "refresh token was already used; the session has been revoked")
        case .invalid(let reason):
            metrics.refresh("invalid")
            throw SignetError(.invalidGrant, reason)
        }
    }

    /// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5, OIDC Core §3.1.3): consumes
    /// the code in one statement that checks the client, the redirect URI and the PKCE verifier
    /// and starts the refresh family (when the client has the refresh grant); then signs the
    /// access token and, with `openid`, the ID token. A second exchange fails and revokes both.
    public func authorizationCode(
        client: Client, code: String, redirectURI: String?, codeVerifier: String?, dpop: DPoPProof? = nil, origin: RequestOrigin
    ) async throws -> TokenResponse {
        guard client.allows(.authorizationCode) else {
            throw SignetError(.unauthorizedClient, "this client may not use the authorization_code grant")
        }
        try Self.requireProof(dpop, for: client)
        if let codeVerifier, !PKCE.isWellFormed(codeVerifier) {
            throw SignetError(.invalidGrant, "code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~")
        }
        guard let secret = SecretToken(presented: code) else { throw SignetError(.invalidGrant, "authorization code is not valid") }
        let issuedAt = Date()
        let jti = TokenIssuer.newJTI()
        let issued = AuthorizationCodeStore.Issued(
            familyID: client.allows(.refreshToken) ? UUID() : nil,
            familyLifetime: min(client.refreshTokenLifetime ?? lifetimes.refreshAbsoluteSeconds, lifetimes.refreshAbsoluteSeconds),
            accessTokenJTI: jti,
            accessTokenExpiresAt: issuedAt.addingTimeInterval(TimeInterval(issuer.accessLifetime(for: client) + 1)),
            dpopJKT: Self.familyBinding(dpop, for: client))
        let outcome = try await codes.exchange(
            secret, clientID: client.clientID, redirectURI: redirectURI, verifierChallenge: codeVerifier.map(PKCE.challenge(for:)),
            issued: issued, origin: origin)
        switch outcome {
        case .exchanged(let grant):
            metrics.tokenIssued("authorization_code")
            let access = try await issuer.issue(
                subject: grant.user.id.uuidString.lowercased(), subjectType: .user, client: client, scope: grant.scope,
                sessionID: grant.browserSessionID, roles: grant.user.roles, authTime: grant.authTime, amr: grant.amr, acr: grant.acr,
                dpopJKT: dpop?.jkt, jti: jti, issuedAt: issuedAt)
            let scopes = Set(grant.scope.split(separator: " ").map(String.init))
            let idToken = scopes.contains("openid")
                ? try await issuer.idToken(
                    user: grant.user, client: client, scopes: scopes, nonce: grant.nonce, accessToken: access.token,
                    sessionID: grant.browserSessionID, authTime: grant.authTime, amr: grant.amr, acr: grant.acr, issuedAt: issuedAt)
                : nil
            let refresh = issued.familyID.map { RefreshToken(sessionID: $0, counter: 0).encoded(with: masterKey) }
            return TokenResponse(
                accessToken: access.token, expiresIn: access.expiresIn, refreshToken: refresh, scope: grant.scope, idToken: idToken,
                tokenType: Self.tokenType(dpop))
        case .reused:
            metrics.reuseDetected()
            logger.notice("authorization code reuse: what it issued is revoked", metadata: ["client_id": "\(client.clientID)"])
            throw SignetError(.invalidGrant, "authorization code was already used; the tokens it issued have been revoked")
        case .invalid(let reason):
            throw SignetError(.invalidGrant, reason)
        }
    }

    /// `grant_type=client_credentials` (RFC 6749 §4.4): an access token for the client itself.
    public func clientCredentials(client: Client, scope: String?, dpop: DPoPProof? = nil) async throws -> TokenResponse {
        guard client.allows(.clientCredentials), client.isConfidential else {
            throw SignetError(.unauthorizedClient, "this client may not use the client_credentials grant")
        }
        try Self.requireProof(dpop, for: client)
        let scopeText = try Self.requested(scope, allowed: client.scopes).joined(separator: " ")
        metrics.tokenIssued("client_credentials")
        let access = try await issuer.issue(
            subject: client.clientID, subjectType: .client, client: client, scope: scopeText, sessionID: nil, roles: [],
            authTime: nil, dpopJKT: dpop?.jkt)
        return TokenResponse(
            accessToken: access.token, expiresIn: access.expiresIn, refreshToken: nil, scope: scopeText, tokenType: Self.tokenType(dpop))
    }

    private func tokens(for grant: SessionGrant, client: Client, scope: String, dpop: DPoPProof?) async throws -> TokenResponse {
        let access = try await issuer.issue(
            subject: grant.userID.uuidString.lowercased(), subjectType: .user, client: client, scope: scope,
            sessionID: grant.tokenSessionID,
            roles: grant.roles, authTime: grant.authTime, amr: grant.amr, acr: grant.acr, dpopJKT: dpop?.jkt)
        let refresh = RefreshToken(sessionID: grant.sessionID, counter: grant.counter).encoded(with: masterKey)
        return TokenResponse(
            accessToken: access.token, expiresIn: access.expiresIn, refreshToken: refresh, scope: scope, tokenType: Self.tokenType(dpop))
    }

    // MARK: DPoP (RFC 9449)

    /// A client registered with `dpop_bound_access_tokens` must send a proof with every request.
    static func requireProof(_ dpop: DPoPProof?, for client: Client) throws(SignetError) {
        if client.dpopBoundAccessTokens && dpop == nil {
            throw SignetError(.invalidDPoPProof, "this client must send a DPoP proof with every token request")
        }
    }

    /// The key a new refresh family is bound to: a public client's proof key (RFC 9449 §5); a
    /// confidential client's refresh tokens are bound by its authentication instead.
    static func familyBinding(_ dpop: DPoPProof?, for client: Client) -> String? {
        client.isConfidential ? nil : dpop?.jkt
    }

    static func tokenType(_ dpop: DPoPProof?) -> String {
        dpop == nil ? "Bearer" : "DPoP"
    }

    /// The scopes granted for a request: all of `allowed` when none are asked for, otherwise the
    /// requested ones, each of which must be allowed (a request may only narrow).
    static func requested(_ scope: String?, allowed: [String]) throws -> [String] {
        guard let scope else { return allowed }
        guard let scopes = Scope.parse(scope) else { throw SignetError(.invalidScope, "scope is malformed") }
        if let extra = scopes.first(where: { !allowed.contains($0) }) {
            throw SignetError(.invalidScope, "scope \"\(extra)\" is not allowed here")
        }
        return scopes
    }
}
