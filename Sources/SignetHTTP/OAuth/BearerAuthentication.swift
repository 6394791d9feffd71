import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// Reads and checks `Authorization: Bearer …` (RFC 6750) through the shared ``TokenVerifier``.
enum BearerAuthentication {
    /// A live token for `audience` that speaks for an existing, enabled user, and that user.
    static func user(
        _ request: Request, services: TokenServices, audience: TokenVerifier.ExpectedAudience
    ) async throws -> (AccessTokenClaims, User) {
        let claims = try await verify(request, with: services.verifier, audience: audience)
        guard let userID = claims.userID, let user = try await services.environment.users.find(id: userID), !user.disabled
        else { throw BearerError(.unauthorized, "invalid_token", "the token does not belong to a user") }
        return (claims, user)
    }

    static func verify(
        _ request: Request, with verifier: TokenVerifier, audience: TokenVerifier.ExpectedAudience
    ) async throws -> AccessTokenClaims {
        guard let header = request.headers[.authorization] else {
            throw BearerError(.unauthorized, nil, "a bearer token is required")
        }
        guard header.lowercased().hasPrefix("bearer ") else {
            throw BearerError(.unauthorized, "invalid_request", "use the Bearer scheme")
        }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        do {
            return try await verifier.verify(token, audience: audience)
        } catch is TokenVerifier.Rejection {
            throw BearerError(.unauthorized, "invalid_token", "the access token is not valid")
        }
    }
}
