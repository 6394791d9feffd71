import Hummingbird
import SignetCore

/// One way of answering a ``SignetError``: the OAuth JSON of RFC 6749, the RFC 6750 Bearer
/// challenge, or an HTML page. Each dialect renders in exactly one place.
protocol ErrorDialect: Sendable {
    func response(for error: SignetError) -> Response
}

/// Answers every ``SignetError`` thrown below it in `Dialect`.
struct ErrorDialectMiddleware<Context: RequestContext, Dialect: ErrorDialect>: RouterMiddleware {
    let dialect: Dialect

    init(_ dialect: Dialect) {
        self.dialect = dialect
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as SignetError {
            return dialect.response(for: error)
        }
    }
}
