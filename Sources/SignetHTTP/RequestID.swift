import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SignetCore
import Synchronization

/// The id of the request being served, for every log line written while serving it.
public enum RequestID {
    @TaskLocal public static var current: String?

    /// Adds `request_id` to the metadata of every logger (install with `LoggingSystem.bootstrap`).
    public static let metadataProvider = Logger.MetadataProvider {
        current.map { ["request_id": .string($0)] } ?? [:]
    }

    /// An incoming `X-Request-Id` if it is a plausible id, otherwise a new one: a random prefix
    /// chosen at start-up and a counter, unique within the process and cheap to make.
    static func choose(_ incoming: String?) -> String {
        if let incoming, (1...64).contains(incoming.utf8.count),
           incoming.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E })
        {
            return incoming
        }
        let next = counter.add(1, ordering: .relaxed).newValue
        return prefix + String(next, radix: 16).leftPadded(to: 12)
    }

    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        let random: UInt64 = generator.next() & 0xFFFF_FFFF_FFFF
        return String(random, radix: 16).leftPadded(to: 12) + "-"
    }()

    private static let counter = Atomic<Int>(0)
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

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
                return errorResponse(.badRequest, "invalid_request", "a value in the request is not acceptable")
            }
            if Database.isUnavailable(error) {
                context.logger.warning("database unavailable", metadata: ["reason": "\(Database.describe(error) ?? "\(error)")"])
                return Self.unavailable
            }
            context.logger.error("request failed", metadata: ["error": "\(Database.describe(error) ?? String(reflecting: type(of: error)))"])
            return errorResponse(.internalServerError, "server_error", "the server failed to answer; this is a bug in Signet")
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "request_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .serviceUnavailable: "temporarily_unavailable"
        default: status.code < 500 ? "invalid_request" : "server_error"
        }
    }

    static var unavailable: Response {
        var response = errorResponse(.serviceUnavailable, "temporarily_unavailable", "the database is not answering; retry shortly")
        response.headers[.retryAfter] = "1"
        return response
    }
}

/// A JSON error response in the contract's shape.
func errorResponse(_ status: HTTPResponse.Status, _ code: String, _ description: String) -> Response {
    (try? jsonResponse(ErrorBody(error: code, error_description: description), status: status,
                       headers: [.cacheControl: "no-store"])) ?? Response(status: status)
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}

/// Gives the requests of the routes behind it a deadline: a request still unanswered then (say,
/// waiting for a database that stopped answering) is cancelled and answered 503 by the edge.
/// Only on routes that touch the database; the static documents need no task per request.
struct DeadlineMiddleware<Context: RequestContext>: RouterMiddleware {
    let deadline: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await withDeadline(request, context: context, next: next)
    }

    /// Runs the rest of the chain in a child task raced against the deadline; the loser is
    /// cancelled (a pending database lease gives up; the group waits for it before returning, so
    /// `next` never outlives this call).
    private func withDeadline(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        try await withoutActuallyEscaping(next) { next in
            nonisolated(unsafe) let next = next
            return try await withThrowingTaskGroup(of: Response.self) { group in
                group.addTask { try await next(request, context) }
                group.addTask {
                    try await Task.sleep(for: deadline)
                    throw TimedOut()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        }
    }
}
