import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SignetCore
import Synchronization

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
