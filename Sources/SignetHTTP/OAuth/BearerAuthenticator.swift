import HTTPTypes
import Hummingbird
import SignetCore

/// The one authenticator of access tokens (RFC 6750 §2.1, scheme matched case-insensitively as
/// RFC 7235 says): a live access token of this Signet, meant for `audience`, that speaks for an
/// existing, enabled user becomes the request's ``Principal``. A token bound to a DPoP key
/// (`cnf.jkt`) is accepted only with the `DPoP` scheme and a proof by that key for this request,
/// carrying the token's hash (RFC 9449 §7); a plain token only with `Bearer`. Anything else is
/// refused here.
struct BearerAuthenticator: RouterMiddleware {
    let services: TokenServices
    let audience: TokenVerifier.ExpectedAudience

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else { throw SignetError.bearerTokenRequired }
        let lowered = header.lowercased()
        let isDPoP = lowered.hasPrefix("dpop ")
        guard isDPoP || lowered.hasPrefix("bearer ") else {
            throw SignetError(.invalidRequest, "use the Bearer or DPoP scheme", kind: .unauthenticated)
        }
        let token = header.dropFirst(isDPoP ? 5 : 7).trimmingCharacters(in: .whitespaces)
        let claims: AccessTokenClaims
        do {
            claims = try await services.verifier.verify(token, audience: audience)
        } catch is TokenVerifier.Rejection {
            throw SignetError(.invalidToken, "the access token is not valid")
        }
        switch (claims.cnf?.jkt, isDPoP) {
        case (nil, true):
            throw SignetError(.invalidToken, "the access token is not DPoP-bound; use the Bearer scheme")
        case (.some, false):
            throw SignetError(.invalidToken, "the access token is DPoP-bound; use the DPoP scheme with a proof")
        case (.some(let jkt), true):
            let proof: DPoPProof?
            do {
                proof = try await services.dpop.check(
                    request.headers[values: .dpop], method: request.method.rawValue, url: Self.url(of: request, services: services),
                    accessToken: token)
            } catch let error as SignetError where error.code == .invalidDPoPProof {
                throw SignetError(.invalidToken, error.message, kind: .unauthenticated)
            }
            guard let proof, proof.jkt == jkt else {
                throw SignetError(.invalidToken, "a DPoP proof by the token's key is required", kind: .unauthenticated)
            }
        case (nil, false):
            break
        }
        guard let userID = claims.userID, let user = try await services.environment.users.find(id: userID), !user.disabled
        else { throw SignetError(.invalidToken, "the token does not belong to a user") }
        var context = context
        context.principal = Principal(claims: claims, user: user)
        return try await next(request, context)
    }

    /// The URL a proof must name (`htu`): the issuer's origin and this request's path on the
    /// public listener; on the admin listener (no public URL of its own) the `Host` it was sent to.
    static func url(of request: Request, services: TokenServices) -> String {
        let path = request.uri.path
        if request.uri.path.hasPrefix("/admin/"), let host = request.head.authority {
            return "http://\(host)\(path)"
        }
        return services.environment.settings.issuerString + path
    }
}

extension HTTPField.Name {
    /// RFC 9449 §4.1.
    static let dpop = Self("DPoP")!
}
