import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore

/// Admits only live access tokens of this Signet issued for the admin API's own audience
/// (`admin.audience`, which only clients registered with it can obtain) whose user holds `admin`
/// now and held it when the token was issued (checked against the revocation list and the
/// user's current roles on every call); records the admin as actor.
struct AdminAuthMiddleware: RouterMiddleware {
    let services: TokenServices

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        let (claims, user) = try await BearerAuthentication.user(
            request, services: services, audience: .exactly(services.environment.settings.adminAudience))
        guard user.roles.contains("admin"), claims.roles.contains("admin") else {
            throw AdminError(status: .forbidden, code: "insufficient_scope", description: "the admin role is required")
        }
        var context = context
        context.actor = claims.sub
        return try await next(request, context)
    }
}
