import Hummingbird
import SignetCore

/// The one authenticator of bearer tokens (RFC 6750 §2.1, scheme matched case-insensitively as
/// RFC 7235 says): a live access token of this Signet, meant for `audience`, that speaks for an
/// existing, enabled user becomes the request's ``Principal``. Anything else is refused here.
struct BearerAuthenticator: RouterMiddleware {
    let services: TokenServices
    let audience: TokenVerifier.ExpectedAudience

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else { throw SignetError.bearerTokenRequired }
        guard header.lowercased().hasPrefix("bearer ") else {
            throw SignetError(.invalidRequest, "use the Bearer scheme", kind: .unauthenticated)
        }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        let claims: AccessTokenClaims
        do {
            claims = try await services.verifier.verify(token, audience: audience)
        } catch is TokenVerifier.Rejection {
            throw SignetError(.invalidToken, "the access token is not valid")
        }
        guard let userID = claims.userID, let user = try await services.environment.users.find(id: userID), !user.disabled
        else { throw SignetError(.invalidToken, "the token does not belong to a user") }
        var context = context
        context.principal = Principal(claims: claims, user: user)
        return try await next(request, context)
    }
}
