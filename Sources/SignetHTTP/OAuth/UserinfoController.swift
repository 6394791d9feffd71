import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// `GET|POST /userinfo` (OIDC Core §5.3): the claims of the bearer's user.
struct UserinfoController: Sendable {
    let services: TokenServices

    struct Claims: Encodable {
        var sub: String
        var preferred_username: String?
        var email: String?
        var roles: [String]
    }

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("userinfo", use: userinfo)
        routes.post("userinfo", use: userinfo)
        return routes
    }

    @Sendable func userinfo(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let (claims, user) = try await BearerAuthentication.user(request, services: services, audience: .any)
        let scopes = Set(claims.scope.split(separator: " ").map(String.init))
        guard scopes.contains("openid") else {
            throw BearerError(.forbidden, "insufficient_scope", "the token lacks the openid scope", scope: "openid")
        }
        return try jsonResponse(
            Claims(
                sub: claims.sub, preferred_username: scopes.contains("profile") ? user.username : nil,
                email: scopes.contains("email") ? user.email : nil, roles: user.roles),
            headers: [.cacheControl: "no-store"])
    }
}
