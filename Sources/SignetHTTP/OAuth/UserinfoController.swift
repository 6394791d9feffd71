import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// `GET|POST /userinfo` (OIDC Core §5.3): the claims of the bearer's user.
struct UserinfoController: Sendable {
    struct Claims: Encodable {
        var sub: String
        var preferred_username: String?
        var email: String?
        /// Signet does not verify addresses: `false` whenever `email` is given (as in ID tokens).
        var email_verified: Bool?
        var roles: [String]
    }

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("userinfo", use: userinfo)
        routes.post("userinfo", use: userinfo)
        return routes
    }

    @Sendable func userinfo(_ request: Request, context: SignetRequestContext) async throws -> Response {
        guard let principal = context.principal else { throw SignetError.bearerTokenRequired }
        let scopes = principal.scopes, user = principal.user
        guard scopes.contains("openid") else {
            throw SignetError(.insufficientScope, "the token lacks the openid scope", requiredScope: "openid")
        }
        let email = scopes.contains("email") ? user.email : nil
        return try jsonResponse(
            Claims(
                sub: user.id.uuidString.lowercased(), preferred_username: scopes.contains("profile") ? user.username : nil,
                email: email, email_verified: email == nil ? nil : false, roles: user.roles),
            headers: [.cacheControl: "no-store"])
    }
}
