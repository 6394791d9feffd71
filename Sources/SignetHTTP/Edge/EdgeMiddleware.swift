import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SignetCore
import Synchronization

/// Outermost middleware of both listeners: tags the request with an id (response header
/// `X-Request-Id`, log metadata `request_id`), adds `X-Content-Type-Options: nosniff`, answers a
/// database outage with 503, records the request's metrics, and turns anything unexpected into a
/// JSON error instead of a bare 500.
struct EdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: SignetMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let id = RequestID.choose(request.headers[.xRequestID])
        var response = await RequestID.$current.withValue(id) {
            await respond(request, context: context, next: next)
        }
        response.headers[.xRequestID] = id
        response.headers[.xContentTypeOptions] = "nosniff"
        metrics.httpRequest(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - start)
        return response
    }

    private func respond(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            var response = errorResponse(error.status, Self.code(for: error.status), error.body ?? error.status.reasonPhrase)
            for field in error.headers { response.headers.append(field) }
            return response
        } catch let error as any HTTPResponseError {
            return errorResponse(error.status, Self.code(for: error.status), error.status.reasonPhrase)
        } catch {
            if Database.isInvalidInput(error) {
                context.logger.warning("database refused a request value", metadata: ["reason": "\(Database.describe(error) ?? "")"])
                return errorResponse(.badRequest, .invalidRequest, "a value in the request is not acceptable")
            }
            if Database.isUnavailable(error) {
                context.logger.warning("database unavailable", metadata: ["reason": "\(Database.describe(error) ?? "\(error)")"])
                return Self.unavailable
            }
            context.logger.error("request failed", metadata: ["error": "\(Database.describe(error) ?? String(reflecting: type(of: error)))"])
            return errorResponse(.internalServerError, .serverError, "the server failed to answer; this is a bug in Signet")
        }
    }

    static func code(for status: HTTPResponse.Status) -> ErrorCode {
        switch status {
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .contentTooLarge: .requestTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .serviceUnavailable: .temporarilyUnavailable
        default: status.code < 500 ? .invalidRequest : .serverError
        }
    }

    static var unavailable: Response {
        var response = errorResponse(.serviceUnavailable, .temporarilyUnavailable, "the database is not answering; retry shortly")
        response.headers[.retryAfter] = "1"
        return response
    }
}
