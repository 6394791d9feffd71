import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// `GET|POST /oauth2/authorize` (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 7636, RFC 9207): the start
/// of a browser sign-in. Shows the login page (and the consent page) when needed, and otherwise
/// redirects back to the application at once with a code.
///
/// The pages post back here with the authorization request in hidden fields, which are checked
/// again like a new request; `signet_step` says which form it is (`login`, `consent`), and such a
/// post must carry the CSRF token bound to the browser's flow cookie.
struct AuthorizeController: Sendable {
    let services: TokenServices
    let pages: PageRenderer
    let csrf: CSRFGuard
    let cookies: BrowserCookies
    /// The same failed-login buckets as the password grant's.
    let failedLogins: TokenBuckets

    /// Fields of the pages' forms, never carried over as part of the authorization request.
    static let formFields: Set<String> = ["username", "password", "csrf_token", "signet_step", "decision"]

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
        var newSessionCookie: Cookie?
        if step != nil {
            try csrf.check(request, token: parameters["csrf_token"])
        }
        switch step {
        case "login":
            guard let username = parameters["username"], let password = parameters["password"] else {
                return loginPage(authorization, parameters: parameters, request: request, username: parameters["username"],
                                 error: "Enter your username and password.")
            }
            let source = context.limitKey
            if let wait = failedLogins.take(source) {
                throw SignetError(.slowDown, "Too many failed sign-ins from this address. Try again in \(wait) seconds.", retryAfter: wait)
            }
            let outcome: BrowserSignIn.Login
            do {
                outcome = try await signIn.login(
                    username: username, password: password, client: client, source: source, origin: context.origin, previous: session)
            } catch {
                failedLogins.refund(source)
                throw error
            }
            switch outcome {
            case .refused:
                return loginPage(authorization, parameters: parameters, request: request, username: username,
                                 error: "Invalid username or password.")
            case .signedIn(let cookie, let signedIn):
                failedLogins.refund(source)
                session = signedIn
                justAuthenticated = true
                newSessionCookie = cookies.sessionCookie(cookie)
            }
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
        if let newSessionCookie { response.setCookie(newSessionCookie) }
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
