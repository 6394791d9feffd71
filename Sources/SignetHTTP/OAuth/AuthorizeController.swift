import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// `GET|POST /oauth2/authorize` (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 7636, RFC 9207): the start
/// of a browser sign-in. Shows the login page (and the consent page) when needed, and otherwise
/// redirects back to the application at once with a code.
///
/// The pages post back here with the authorization request in hidden fields, which are checked
/// again like a new request; `signet_step` says which form it is (`login`, `otp` — the second
/// factor, `continue` — after new recovery codes were shown, `consent`), and such a post must
/// carry the CSRF token bound to the browser's flow cookie.
struct AuthorizeController: Sendable {
    let services: TokenServices
    let pages: PageRenderer
    let csrf: CSRFGuard
    let cookies: BrowserCookies
    /// The same failed-login buckets as the password grant's.
    let failedLogins: TokenBuckets

    /// Fields of the pages' forms, never carried over as part of the authorization request.
    static let formFields: Set<String> = [
        "username", "password", "csrf_token", "signet_step", "decision", "otp", "recovery_code", "add_second_factor",
        "new_recovery_codes",
    ]

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("oauth2/authorize", use: authorize)
        routes.post("oauth2/authorize", use: authorize)
        return routes
    }

    private var signIn: BrowserSignIn { services.signIn }
    private var issuer: String { services.environment.settings.issuerString }

    @Sendable func authorize(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let isPost = request.method == .post
        let parameters = try await OAuthParameters.of(request, context: context, limit: services.environment.settings.http.publicBodyLimit).all
        // Until the client and redirect URI are known to be right, refusals are pages (never redirects).
        let target = try await AuthorizationRequest.target(parameters, clients: services.clients)
        do {
            let authorization = try await AuthorizationRequest(parameters, target: target, verifier: signIn.verifier)
            return try await proceed(authorization, parameters: parameters, request: request, context: context, isPost: isPost)
        } catch let error as SignetError where AuthorizationResponse.redirectable.contains(error.code) && error.kind != .forbidden {
            return AuthorizationResponse.error(error, target: target, issuer: issuer, afterPost: isPost)
        }
    }

    private func proceed(
        _ authorization: AuthorizationRequest, parameters: [String: String], request: Request, context: SignetRequestContext, isPost: Bool
    ) async throws -> Response {
        let client = authorization.client
        let cookie = BrowserCookies.value(BrowserCookies.session, in: request)
        let step = isPost ? parameters["signet_step"] : nil
        // Single sign-on, the common case: one statement, no page.
        if step == nil, let code = try await signIn.signedInCode(authorization, cookie: cookie, origin: context.origin) {
            return AuthorizationResponse.code(code, target: authorization.target, issuer: issuer, afterPost: isPost)
        }
        var session = try await signIn.session(cookie: cookie, clientID: client.clientID)
        var justAuthenticated = false, justConsented = false
        var newCookies: [Cookie] = []
        if step != nil {
            try csrf.check(request, token: parameters["csrf_token"])
        }
        switch step {
        case "login":
            guard let username = parameters["username"], let password = parameters["password"] else {
                return loginPage(authorization, parameters: parameters, request: request, username: parameters["username"],
                                 error: "Enter your username and password.")
            }
            let (outcome, source) = try await withFailedLoginToken(context) { source in
                try await signIn.login(
                    username: username, password: password, request: authorization,
                    wantsSecondFactor: parameters["add_second_factor"] != nil, source: source, origin: context.origin, previous: session)
            }
            switch outcome {
            case .refused:
                return loginPage(authorization, parameters: parameters, request: request, username: username,
                                 error: "Invalid username or password.")
            case .secondFactor(let challenge):
                // The password was right; the code is checked (and counted) on its own.
                failedLogins.refund(source)
                return secondFactorPage(challenge, authorization: authorization, parameters: parameters, request: request, error: nil)
            case .signedIn(let cookie, let signedIn):
                failedLogins.refund(source)
                session = signedIn
                justAuthenticated = true
                newCookies.append(cookies.sessionCookie(cookie))
            }
        case "otp":
            guard let code = parameters["otp"] ?? parameters["recovery_code"] else {
                throw SignetError.invalidRequest("otp is required")
            }
            let (outcome, source) = try await withFailedLoginToken(context) { source in
                try await signIn.verifySecondFactor(
                    cookie: BrowserCookies.value(BrowserCookies.secondFactor, in: request), code: code, request: authorization,
                    newRecoveryCodes: parameters["new_recovery_codes"] != nil, source: source, origin: context.origin, previous: session)
            }
            switch outcome {
            case .expired:
                failedLogins.refund(source)
                var response = loginPage(authorization, parameters: parameters, request: request, username: nil,
                                         error: "That sign-in took too long or has ended. Please sign in again.")
                response.setCookie(cookies.clearedSecondFactorCookie())
                return response
            case .refused(let challenge):
                return secondFactorPage(challenge, authorization: authorization, parameters: parameters, request: request,
                                        error: "That code is not right, or was used already. Try the current code.")
            case .signedIn(let cookie, let signedIn, let recoveryCodes):
                failedLogins.refund(source)
                session = signedIn
                justAuthenticated = true
                newCookies += [cookies.sessionCookie(cookie), cookies.clearedSecondFactorCookie()]
                if let recoveryCodes {
                    var response = recoveryCodesPage(recoveryCodes, authorization: authorization, parameters: parameters, request: request)
                    for cookie in newCookies { response.setCookie(cookie) }
                    return response
                }
            }
        case "continue":
            // After the recovery codes page, which only follows a completed sign-in.
            justAuthenticated = session != nil
        case "consent":
            if let current = session {
                switch parameters["decision"] {
                case "allow":
                    session = try await signIn.grantConsent(authorization, session: current, origin: context.origin)
                    justConsented = true
                case "deny":
                    try await signIn.denyConsent(authorization, session: current, origin: context.origin)
                    // Goes back to the application (a refusal of kind forbidden, like a CSRF failure, would not).
                    throw SignetError(.accessDenied, "the user denied access", kind: .invalidInput)
                default:
                    throw SignetError.invalidRequest("decision must be allow or deny")
                }
            }
        case nil:
            break
        default:
            throw SignetError.invalidRequest("signet_step is not a step of this sign-in")
        }
        var response: Response
        switch try signIn.next(authorization, session: session, justAuthenticated: justAuthenticated, justConsented: justConsented) {
        case .login:
            response = loginPage(authorization, parameters: parameters, request: request, username: authorization.loginHint, error: nil)
        case .secondFactor(let live):
            let challenge = try await signIn.stepUp(live)
            response = secondFactorPage(challenge, authorization: authorization, parameters: parameters, request: request, error: nil)
        case .consent:
            let (flow, token, isNew) = csrf.token(flowCookie: BrowserCookies.value(BrowserCookies.flow, in: request))
            response = pages.response(.consent(
                clientName: client.displayName, username: session?.user.username ?? "", scopes: authorization.scopes,
                hidden: Self.carried(parameters), csrfToken: token))
            if isNew { response.setCookie(cookies.flowCookie(flow)) }
        case .issueCode(let live):
            guard let code = try await signIn.issueCode(authorization, session: live, origin: context.origin) else {
                // The session ended between the two statements: sign in again.
                response = loginPage(authorization, parameters: parameters, request: request, username: authorization.loginHint, error: nil)
                break
            }
            response = AuthorizationResponse.code(code, target: authorization.target, issuer: issuer, afterPost: isPost)
        }
        for cookie in newCookies { response.setCookie(cookie) }
        return response
    }

    /// Runs a credential check (password or second factor) holding a token of the address's
    /// failed-login bucket (the same as the password grant's; 429 when none is left). The token
    /// comes back if the check throws; otherwise the caller gives it back unless the check failed.
    private func withFailedLoginToken<T: Sendable>(
        _ context: SignetRequestContext, _ check: (String) async throws -> T
    ) async throws -> (T, source: String) {
        let source = context.limitKey
        if let wait = failedLogins.take(source) {
            throw SignetError(.slowDown, "Too many failed sign-ins from this address. Try again in \(wait) seconds.", retryAfter: wait)
        }
        do {
            return (try await check(source), source)
        } catch {
            failedLogins.refund(source)
            throw error
        }
    }

    /// The code page of a second-factor step, or — enrolment — the page with the new secret as a
    /// QR code and as text; sets the step's cookie when it is new.
    private func secondFactorPage(
        _ step: SecondFactorStep, authorization: AuthorizationRequest, parameters: [String: String], request: Request, error: String?
    ) -> Response {
        let (flow, token, isNew) = csrf.token(flowCookie: BrowserCookies.value(BrowserCookies.flow, in: request))
        let hidden = Self.carried(parameters)
        let clientName = authorization.client.displayName, username = step.challenge.user.username
        let page: Page
        if let secret = step.enrolmentSecret {
            let uri = OTPAuthURI.totp(secret: secret, issuer: signIn.secondFactor.issuerLabel, account: username)
            let svg = (try? QRCode(uri).svg(label: "QR code to add \(username) to an authenticator app")) ?? ""
            page = .enrolment(
                clientName: clientName, username: username, qrSVG: svg, secret: OTPAuthURI.grouped(secret), error: error, hidden: hidden,
                csrfToken: token)
        } else {
            page = .secondFactor(clientName: clientName, username: username, error: error, hidden: hidden, csrfToken: token)
        }
        var response = pages.response(page)
        if isNew { response.setCookie(cookies.flowCookie(flow)) }
        if let cookie = step.cookie { response.setCookie(cookies.secondFactorCookie(cookie)) }
        return response
    }

    private func recoveryCodesPage(
        _ codes: [String], authorization: AuthorizationRequest, parameters: [String: String], request: Request
    ) -> Response {
        let (flow, token, isNew) = csrf.token(flowCookie: BrowserCookies.value(BrowserCookies.flow, in: request))
        var response = pages.response(.recoveryCodes(
            clientName: authorization.client.displayName, codes: codes, hidden: Self.carried(parameters), csrfToken: token))
        if isNew { response.setCookie(cookies.flowCookie(flow)) }
        return response
    }

    private func loginPage(
        _ authorization: AuthorizationRequest, parameters: [String: String], request: Request, username: String?, error: String?
    ) -> Response {
        let (flow, token, isNew) = csrf.token(flowCookie: BrowserCookies.value(BrowserCookies.flow, in: request))
        var response = pages.response(.login(
            clientName: authorization.client.displayName, username: username, error: error, hidden: Self.carried(parameters),
            csrfToken: token))
        if isNew { response.setCookie(cookies.flowCookie(flow)) }
        return response
    }

    /// The authorization request's parameters, as hidden fields of the next form.
    static func carried(_ parameters: [String: String]) -> [Page.Field] {
        parameters.filter { !formFields.contains($0.key) }.sorted { $0.key < $1.key }.map { Page.Field(name: $0.key, value: $0.value) }
    }
}
