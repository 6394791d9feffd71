import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore
import Synchronization

/// Per-address request limit: over it → 429 + `Retry-After`, answered before any other work
/// (rendered by the route group's error dialect, which therefore comes first).
struct RateLimitMiddleware: RouterMiddleware {
    let buckets: TokenBuckets

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        if let wait = buckets.take(context.limitKey) {
            throw SignetError(.slowDown, "too many requests from this address; retry after \(wait)s", retryAfter: wait)
        }
        return try await next(request, context)
    }
}
