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
        } catch let error as AdminError {
            return Self.render(error)
        } catch let error as BearerError {
            return error.response
        } catch let error as ValidationError {
            return Self.render(.invalidRequest("\(error.field) \(error.reason)"))
        } catch UserStoreError.notFound {
            return Self.render(.notFound("user"))
        } catch ClientStoreError.notFound {
            return Self.render(.notFound("client"))
        } catch RevocationError.notFound {
            return Self.render(.notFound("session or user"))
        } catch UserStoreError.usernameTaken {
            return Self.render(.conflict("a user with that username already exists"))
        } catch ClientStoreError.clientIDTaken {
            return Self.render(.conflict("a client with that client_id already exists"))
        } catch PasswordHasherError.overloaded {
            var response = Self.render(AdminError(status: .serviceUnavailable, code: "temporarily_unavailable", description: "password hashing is busy"))
            response.headers[.retryAfter] = "1"
            return response
        } catch is NIOTooManyBytesError {
            return Self.render(AdminError(status: .contentTooLarge, code: "request_too_large", description: "the body is too large"))
        } catch let error as HTTPError {
            return Self.render(AdminError(
                status: error.status, code: error.status == .contentTooLarge ? "request_too_large" : "invalid_request",
                description: error.body ?? error.status.reasonPhrase))
        }
    }

    static func render(_ error: AdminError) -> Response {
        (try? jsonResponse(ErrorBody(error: error.code, error_description: error.description), status: error.status,
                           headers: [.cacheControl: "no-store"])) ?? Response(status: error.status)
    }
}
