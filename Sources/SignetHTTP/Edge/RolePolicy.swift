import Hummingbird
import SignetCore

/// Admits only requests whose ``Principal`` may use `role` (the token grants it and the user
/// holds it now) and, when `role` is one of `secondFactorRoles` (`mfa.required_roles`), whose
/// token came from a login with a second factor (RFC 9470 `insufficient_user_authentication`
/// otherwise); placed after ``BearerAuthenticator``.
struct RolePolicy: RouterMiddleware {
    let role: String
    var secondFactorRoles: [String] = []

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let principal = context.principal else { throw SignetError.bearerTokenRequired }
        guard principal.holds(role) else { throw SignetError(.insufficientScope, "the \(role) role is required") }
        if secondFactorRoles.contains(role), principal.acr != "2" { throw SignetError.secondFactorNotUsed }
        return try await next(request, context)
    }
}
