import Foundation
import Logging

/// Browser sign-in (OpenID Connect authorization code flow): decides what an authorization
/// request needs (a login, a consent, or nothing), signs users in with the same checks as the
/// password grant, remembers consent, issues codes and ends browser sessions.
public struct BrowserSignIn: Sendable {
    let users: UserAccounts
    let clients: ClientRegistry
    public let verifier: TokenVerifier
    let sessions: BrowserSessionStore
    let codes: AuthorizationCodeStore
    let consents: ConsentStore
    public let secondFactor: SecondFactor
    let challenges: MFAChallengeStore
    let settings: Settings
    let metrics: SignetMetrics

    public init(
        users: UserAccounts, clients: ClientRegistry, verifier: TokenVerifier, secondFactor: SecondFactor, database: Database,
        settings: Settings, metrics: SignetMetrics
    ) {
        self.secondFactor = secondFactor
        challenges = MFAChallengeStore(database: database)
        self.users = users
        self.clients = clients
        self.verifier = verifier
        sessions = BrowserSessionStore(database: database)
        codes = AuthorizationCodeStore(database: database)
        consents = ConsentStore(database: database)
        self.settings = settings
        self.metrics = metrics
    }

    /// The live browser session behind a cookie value, with its consent for `clientID` (none
    /// when `clientID` is nil).
    public func session(cookie: String?, clientID: String?) async throws -> BrowserSession? {
        guard let cookie, let secret = SecretToken(presented: cookie) else { return nil }
        return try await sessions.find(secret: secret, clientID: clientID, idleSeconds: settings.browser.sessionIdleSeconds)
    }

    /// What to do with a checked request.
    public enum Step: Sendable, Equatable {
        case login
        /// Signed in with one factor where two are needed: a step-up of this session.
        case secondFactor(BrowserSession)
        case consent
        case issueCode(BrowserSession)
    }

    /// The next step for `request` given the browser's session. `justAuthenticated` and
    /// `justConsented` say that this very request carried the login or consent form, so that
    /// `prompt=login`, `max_age` and `prompt=consent` are satisfied by it. A step that needs a
    /// page is refused with `login_required`/`consent_required` under `prompt=none`.
    public func next(
        _ request: AuthorizationRequest, session: BrowserSession?, justAuthenticated: Bool = false, justConsented: Bool = false,
        now: Date = Date()
    ) throws(SignetError) -> Step {
        let silent = request.prompt.contains(.none)
        var needsLogin = session == nil
        if let session, !justAuthenticated {
            if request.prompt.contains(.login) || request.prompt.contains(.selectAccount) { needsLogin = true }
            if let maxAge = request.maxAge, now.timeIntervalSince(session.authTime) > Double(maxAge) { needsLogin = true }
        }
        if let hinted = request.hintedSubject, let session, hinted != session.user.id.uuidString.lowercased() {
            needsLogin = true
        }
        if needsLogin {
            if silent { throw SignetError(.loginRequired, "the user must sign in") }
            return .login
        }
        guard let session else { return .login }
        if session.acr != "2",
           secondFactor.isRequired(user: session.user, client: request.client, demanded: request.demandsSecondFactor) {
            if silent { throw SignetError(.interactionRequired, "the user must sign in with a second factor") }
            return .secondFactor(session)
        }
        let consented = Set(session.consentedScopes)
        let needsConsent = !request.client.skipConsent
            && ((request.prompt.contains(.consent) && !justConsented) || !Set(request.scopes).isSubset(of: consented))
        if needsConsent {
            if silent { throw SignetError(.consentRequired, "the user must consent to this application") }
            return .consent
        }
        return .issueCode(session)
    }

    /// The outcome of the login form.
    public enum Login: Sendable {
        /// Signed in: set `cookie` as the browser session cookie.
        case signedIn(cookie: String, session: BrowserSession)
        /// The password was right and a second factor comes next (``SecondFactorStep``).
        case secondFactor(SecondFactorStep)
        /// Refused; every reason is shown alike.
        case refused
    }

    /// Checks a username and password exactly as the password grant does (the Argon2id pool,
    /// lockout, one attempt per account at a time) and, when they match, creates a new browser
    /// session in the statement that completes the login. `previous` (the browser's old session,
    /// if any) is ended: every sign-in gets a new session id (session fixation).
    ///
    /// A user with TOTP — or without it but bound to have one (``SecondFactor/isRequired(user:client:demanded:)``),
    /// or who asked to add one (`wantsSecondFactor`) — is not signed in yet: the answer is the
    /// second-factor step, and the attempt stays counted as failed until that step completes it.
    public func login(
        username: String, password: String, request: AuthorizationRequest, wantsSecondFactor: Bool = false, source: String,
        origin: RequestOrigin, previous: BrowserSession?
    ) async throws -> Login {
        let client = request.client
        let detail = ["flow": "browser"]
        let outcome = try await users.login(
            username: username, password: password, source: source, lockout: settings.lockout,
            failureEvent: AuditEvent("login_failed", clientID: client.clientID, remoteAddress: origin.remoteAddress, detail: detail),
            metrics: metrics
        ) { attempt -> PasswordStep? in
            let hasTOTP = attempt.hasTOTP
            if hasTOTP || wantsSecondFactor
                || secondFactor.isRequired(user: attempt.user, client: client, demanded: request.demandsSecondFactor) {
                return .challenged(try await startSecondFactor(
                    user: attempt.user, generation: attempt.generation, hasTOTP: hasTOTP, raising: nil, authTime: Date()))
            }
            let new = NewBrowserSession(authTime: Date(), amr: ["pwd"], absoluteLifetime: settings.browser.sessionAbsoluteSeconds)
            guard try await users.complete(
                attempt, session: nil, browserSession: new,
                event: AuditEvent(
                    "login_succeeded", userID: attempt.user.id, clientID: client.clientID, remoteAddress: origin.remoteAddress, detail: detail))
            else { return nil }
            return .completed(attempt.user, new)
        }
        switch outcome {
        case nil: return .refused
        case .challenged(let step): return .secondFactor(step)
        case .completed(let user, let new):
            return .signedIn(cookie: new.secret.value, session: try await signedIn(user, new, client: client, origin: origin, previous: previous))
        }
    }

    private enum PasswordStep: Sendable {
        case completed(User, NewBrowserSession)
        case challenged(SecondFactorStep)
    }

    /// The browser session just created (or raised) for `user`, after ending the browser's
    /// `previous` one if that was another.
    func signedIn(
        _ user: User, _ new: NewBrowserSession, client: Client, origin: RequestOrigin, previous: BrowserSession?
    ) async throws -> BrowserSession {
        if let previous, previous.id != new.id {
            try await sessions.end(
                id: previous.id, reason: "signed_in_again",
                event: AuditEvent("logout", userID: previous.user.id, clientID: client.clientID, remoteAddress: origin.remoteAddress,
                                  detail: ["reason": "signed_in_again"]))
        }
        let consented = try await consents.list(userID: user.id).first { $0.clientID == client.clientID }?.scopes ?? []
        return BrowserSession(id: new.id, user: user, authTime: new.authTime, amr: new.amr, acr: new.acr, consentedScopes: consented)
    }

    /// Remembers the user's consent to the request's scopes (audited `consent_granted`).
    public func grantConsent(_ request: AuthorizationRequest, session: BrowserSession, origin: RequestOrigin) async throws -> BrowserSession {
        try await consents.grant(
            userID: session.user.id, clientID: request.client.clientID, scopes: request.scopes,
            event: AuditEvent("consent_granted", remoteAddress: origin.remoteAddress, detail: ["scope": request.scope]))
        var updated = session
        updated.consentedScopes = Array(Set(session.consentedScopes).union(request.scopes))
        return updated
    }

    /// Records that the user refused consent (`consent_denied`).
    public func denyConsent(_ request: AuthorizationRequest, session: BrowserSession, origin: RequestOrigin) async throws {
        try await AuditLog(database: sessions.database).record(AuditEvent(
            "consent_denied", userID: session.user.id, clientID: request.client.clientID, sessionID: session.id,
            remoteAddress: origin.remoteAddress, detail: ["scope": request.scope]))
    }

    /// A new code for `request` under `session`, or `nil` if the session ended meanwhile.
    public func issueCode(_ request: AuthorizationRequest, session: BrowserSession, origin: RequestOrigin) async throws -> String? {
        try await issueCode(request, signer: .session(session.id), origin: origin)
    }

    /// Single sign-on in one statement: a code for `request` if the browser behind `cookie` is
    /// signed in and needs no page — the request asks for no `prompt`, `max_age` or
    /// `id_token_hint`, and the client skips consent or the user has consented to its scopes.
    /// `nil` means "take the long way" (``session(cookie:clientID:)`` and ``next(_:session:justAuthenticated:justConsented:now:)``).
    public func signedInCode(_ request: AuthorizationRequest, cookie: String?, origin: RequestOrigin) async throws -> String? {
        guard request.prompt.isEmpty, request.maxAge == nil, request.hintedSubject == nil,
              let cookie, let secret = SecretToken(presented: cookie)
        else { return nil }
        let always = request.demandsSecondFactor || request.client.requireMFA
        return try await issueCode(
            request,
            signer: .cookie(
                secret, consentTo: request.client.skipConsent ? nil : request.scopes,
                secondFactorFor: always ? nil : Array(secondFactor.requiredRoles)),
            origin: origin)
    }

    private func issueCode(
        _ request: AuthorizationRequest, signer: AuthorizationCodeStore.Signer, origin: RequestOrigin
    ) async throws -> String? {
        let code = SecretToken()
        let binding = AuthorizationCodeStore.Binding(
            clientID: request.client.clientID, redirectURI: request.target.redirectURI, codeChallenge: request.codeChallenge,
            nonce: request.nonce, scope: request.scope)
        guard try await codes.issue(
            code, binding: binding, signer: signer, idleSeconds: settings.browser.sessionIdleSeconds,
            lifetime: settings.browser.codeLifetimeSeconds, remoteAddress: origin.remoteAddress)
        else { return nil }
        return code.value
    }

    /// RP-initiated logout: ends the browser session `id` and its refresh families (`logout`).
    @discardableResult
    public func logout(sessionID: UUID, userID: UUID?, clientID: String?, origin: RequestOrigin) async throws -> Bool {
        try await sessions.end(
            id: sessionID, reason: "logout",
            event: AuditEvent("logout", userID: userID, clientID: clientID, remoteAddress: origin.remoteAddress))
    }

    /// The user a browser session belongs to (live or not), if it exists.
    public func sessionOwner(_ id: UUID) async throws -> UUID? {
        try await sessions.owner(id: id)
    }

    // MARK: administration

    public func browserSessions(userID: UUID) async throws -> [BrowserSessionStore.Summary] {
        try await sessions.live(userID: userID, idleSeconds: settings.browser.sessionIdleSeconds)
    }

    public func consents(userID: UUID) async throws -> [ConsentStore.Consent] {
        try await consents.list(userID: userID)
    }

    public func withdrawConsent(userID: UUID, clientID: String, origin: RequestOrigin) async throws -> Bool {
        try await consents.withdraw(userID: userID, clientID: clientID, event: origin.event("consent_withdrawn", userID: userID, clientID: clientID))
    }
}
