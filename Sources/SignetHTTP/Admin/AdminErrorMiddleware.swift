import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore

/// Maps every error of the admin routes to a status and the contract's JSON shape, once, and marks
/// every admin answer `Cache-Control: no-store` (they describe users, sessions and secrets).
struct AdminErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await render(request, context: context, next: next)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    private func render(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as SignetError {
            return Self.response(for: error)
        } catch is NIOTooManyBytesError {
            return Self.response(for: SignetError(.requestTooLarge, "the body is too large"))
        } catch let error as HTTPError {
            return Self.response(for: SignetError(
                error.status == .contentTooLarge ? .requestTooLarge : .invalidRequest, error.body ?? error.status.reasonPhrase,
                kind: error.status == .contentTooLarge ? .tooLarge : .invalidInput))
        }
    }

    /// The admin dialect: the contract's JSON with the kind's status and `Retry-After` when known;
    /// a missing or unusable bearer token is answered as RFC 6750 asks, with its challenge.
    static func response(for error: SignetError) -> Response {
        if error.kind == .unauthenticated { return BearerDialect().response(for: error) }
        var headers: HTTPFields = [.cacheControl: "no-store"]
        if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
        return (try? jsonResponse(ErrorBody(error), status: error.status, headers: headers)) ?? Response(status: error.status)
    }
}
