import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// `GET|POST /oauth2/logout` (OpenID Connect RP-Initiated Logout 1.0, `end_session_endpoint`).
///
/// With a valid `id_token_hint` (signed here; expired is fine) the browser session it names and
/// the browser's own session of the same user end at once, with their refresh families; without
/// one, the user confirms on a page first (CSRF-protected). Afterwards the browser goes to the
/// `post_logout_redirect_uri` when it is registered for the client, with `state`; an
/// unregistered one is refused with a page, never followed; without one, a "signed out" page.
struct LogoutController: Sendable {
    let services: TokenServices
    let pages: PageRenderer
    let csrf: CSRFGuard
    let cookies: BrowserCookies

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("oauth2/logout", use: logout)
        routes.post("oauth2/logout", use: logout)
        return routes
    }

    @Sendable func logout(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let isPost = request.method == .post
        let parameters = try await OAuthParameters.of(request, context: context, limit: services.environment.settings.http.publicBodyLimit).all
        var hint: IDTokenClaims?
        if let presented = parameters["id_token_hint"] { hint = await services.signIn.verifier.idTokenHint(presented) }
        let clientID = try clientID(parameters, hint: hint)
        let redirect = try await postLogoutRedirect(parameters["post_logout_redirect_uri"], clientID: clientID)
        let confirmed = isPost && parameters["decision"] == "logout"
        if confirmed { try csrf.check(request, token: parameters["csrf_token"]) }
        let cookieSession = try await services.signIn.session(cookie: BrowserCookies.value(BrowserCookies.session, in: request), clientID: nil)
        guard hint != nil || confirmed else {
            let (flow, token, isNew) = csrf.token(flowCookie: BrowserCookies.value(BrowserCookies.flow, in: request))
            let carried = ["post_logout_redirect_uri", "state", "client_id"].compactMap { name in
                parameters[name].map { Page.Field(name: name, value: $0) }
            }
            var response = pages.response(.logout(username: cookieSession?.user.username, hidden: carried, csrfToken: token))
            if isNew { response.setCookie(cookies.flowCookie(flow)) }
            return response
        }
        // The session the hint names (if it is the hinted user's) and the browser's own (if it is
        // the same user's, or whoever's when the user confirmed on the page).
        var ended: Set<UUID> = []
        if let hint, let sid = UUID(uuidString: hint.sid), let userID = UUID(uuidString: hint.sub) {
            if try await services.signIn.sessionOwner(sid) == userID {
                try await services.signIn.logout(sessionID: sid, userID: userID, clientID: clientID, origin: context.origin)
                ended.insert(sid)
            }
        }
        if let cookieSession, !ended.contains(cookieSession.id),
           hint == nil || hint?.sub == cookieSession.user.id.uuidString.lowercased()
        {
            try await services.signIn.logout(
                sessionID: cookieSession.id, userID: cookieSession.user.id, clientID: clientID, origin: context.origin)
        }
        var response = if let redirect {
            AuthorizationResponse.redirect(to: redirect, [("state", parameters["state"])], afterPost: isPost)
        } else {
            pages.response(.signedOut)
        }
        response.setCookie(cookies.clearedSessionCookie())
        return response
    }

    /// The client the logout is for: the hint's audience, or `client_id` (which must agree).
    private func clientID(_ parameters: [String: String], hint: IDTokenClaims?) throws(SignetError) -> String? {
        if let hint, let named = parameters["client_id"], named != hint.aud {
            throw SignetError.invalidRequest("client_id does not match the id_token_hint's audience")
        }
        return hint?.aud ?? parameters["client_id"]
    }

    /// `uri` if it is registered for the client; a page-rendered refusal if it is not.
    private func postLogoutRedirect(_ uri: String?, clientID: String?) async throws -> String? {
        // Without a valid hint or a client_id nothing says whose URI it is: it is not followed
        // (the user still gets the confirmation, then the signed-out page).
        guard let uri, let clientID else { return nil }
        guard let client = try await services.clients.find(clientID: clientID), client.postLogoutRedirectURIs.contains(uri) else {
            throw SignetError.invalidRequest("post_logout_redirect_uri is not registered for this application")
        }
        return uri
    }
}
