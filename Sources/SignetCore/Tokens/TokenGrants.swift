import Foundation
import JWTKit
import Logging

/// The three grants of the token endpoint. Each validates what the client asked for, checks the
/// user or session, and mints tokens; refusals are ``SignetError``s.
public struct TokenGrants: Sendable {
    let users: UserAccounts
    let sessions: SessionStore
    let issuer: TokenIssuer
    let masterKey: MasterKey
    let lifetimes: Settings.Lifetimes
    let lockout: Settings.Lockout
    let metrics: SignetMetrics
    let logger: Logger

    public init(
        users: UserAccounts, sessions: SessionStore, issuer: TokenIssuer, masterKey: MasterKey,
        settings: Settings, metrics: SignetMetrics = .none, logger: Logger
    ) {
        self.users = users
        self.sessions = sessions
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
    public func password(
        client: Client, username: String, password: String, scope: String?, source: String, origin: RequestOrigin
    ) async throws -> TokenResponse {
        guard client.allows(.password) else {
            throw SignetError(.unauthorizedClient, "this client may not use the password grant")
        }
        let scopes = try Self.requested(scope, allowed: client.scopes)
        do {
            return try await users.oneAtATime(username: username) {
                try await passwordLogin(client: client, username: username, password: password, scopes: scopes, source: source, origin: origin)
            }
        } catch let error as SignetError where error == .hashingOverloaded {
            metrics.login("shed")
            throw SignetError(.temporarilyUnavailable, "too many logins in progress; retry shortly", retryAfter: 1)
        }
    }

    private func passwordLogin(
        client: Client, username: String, password: String, scopes: [String], source: String, origin: RequestOrigin
    ) async throws -> TokenResponse {
        let result = try await users.authenticate(
            username: username, password: password, source: source, lockout: lockout,
            failureEvent: AuditEvent("login_failed", clientID: client.clientID, remoteAddress: origin.remoteAddress))
        guard case .authenticated(let attempt) = result else {
            if case .rejected(let reason) = result { metrics.login(reason.rawValue) }
            throw SignetError.invalidCredentials
        }
        let scopeText = scopes.joined(separator: " ")
        let authTime = Date()
        let session = client.allows(.refreshToken)
            ? NewSession(
                id: UUID(), clientID: client.clientID, scope: scopeText, authTime: authTime,
                absoluteLifetime: min(client.refreshTokenLifetime ?? lifetimes.refreshAbsoluteSeconds, lifetimes.refreshAbsoluteSeconds))
            : nil
        let access = try await issuer.issue(
            subject: attempt.user.id.uuidString.lowercased(), subjectType: .user, client: client, scope: scopeText,
            sessionID: session?.id, roles: attempt.user.roles, authTime: authTime)
        let completed = try await users.complete(
            attempt, session: session,
            event: AuditEvent("login_succeeded", userID: attempt.user.id, clientID: client.clientID, remoteAddress: origin.remoteAddress))
        guard completed else {
            metrics.login(UserAccounts.Rejection.superseded.rawValue)
            throw SignetError.invalidCredentials
        }
        metrics.login("success")
        metrics.tokenIssued("password")
        let refresh = session.map { RefreshToken(sessionID: $0.id, counter: 0).encoded(with: masterKey) }
        return TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, refreshToken: refresh, scope: scopeText)
    }

    /// `grant_type=refresh_token` (RFC 6749 §6): rotates; a spent token revokes its whole session.
    public func refresh(client: Client, refreshToken: String, scope: String?, origin: RequestOrigin) async throws -> TokenResponse {
        guard client.allows(.refreshToken) else {
            throw SignetError(.unauthorizedClient, "this client may not use the refresh_token grant")
        }
        guard let token = RefreshToken(verifying: refreshToken, with: masterKey) else {
            throw SignetError(.invalidGrant, "refresh token is not valid")
        }
        let outcome = try await sessions.rotate(
            sessionID: token.sessionID, presentedCounter: token.counter, clientID: client.clientID,
            idleLifetime: lifetimes.refreshIdleSeconds, graceSeconds: lifetimes.refreshReuseGraceSeconds, origin: origin)
        switch outcome {
        case .rotated(let grant), .graceReplay(let grant):
            if case .graceReplay = outcome { metrics.refresh("grace_replay") } else { metrics.refresh("rotated") }
            metrics.tokenIssued("refresh_token")
            let sessionScopes = grant.scope.split(separator: " ").map(String.init)
            let scopes = try Self.requested(scope, allowed: sessionScopes)
            return try await tokens(for: grant, client: client, scope: scopes.joined(separator: " "))
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

    /// `grant_type=client_credentials` (RFC 6749 §4.4): an access token for the client itself.
    public func clientCredentials(client: Client, scope: String?) async throws -> TokenResponse {
        guard client.allows(.clientCredentials), client.isConfidential else {
            throw SignetError(.unauthorizedClient, "this client may not use the client_credentials grant")
        }
        let scopeText = try Self.requested(scope, allowed: client.scopes).joined(separator: " ")
        metrics.tokenIssued("client_credentials")
        let access = try await issuer.issue(
            subject: client.clientID, subjectType: .client, client: client, scope: scopeText, sessionID: nil, roles: [],
            authTime: nil)
        return TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, refreshToken: nil, scope: scopeText)
    }

    private func tokens(for grant: SessionGrant, client: Client, scope: String) async throws -> TokenResponse {
        let access = try await issuer.issue(
            subject: grant.userID.uuidString.lowercased(), subjectType: .user, client: client, scope: scope,
            sessionID: grant.sessionID,
            roles: grant.roles, authTime: grant.authTime)
        let refresh = RefreshToken(sessionID: grant.sessionID, counter: grant.counter).encoded(with: masterKey)
        return TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, refreshToken: refresh, scope: scope)
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
