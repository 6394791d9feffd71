import Hummingbird
import SignetCore

/// Admits only requests whose ``Principal`` may use `role` (the token grants it and the user
/// holds it now); placed after ``BearerAuthenticator``.
struct RolePolicy: RouterMiddleware {
    let role: String

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let principal = context.principal else { throw SignetError.bearerTokenRequired }
        guard principal.holds(role) else { throw SignetError(.insufficientScope, "the \(role) role is required") }
        return try await next(request, context)
    }
}
