import Hummingbird
import SignetCore

/// The refusals of the browser sign-in endpoints that must not (or cannot) go back to the
/// application: an HTML error page with the status of its kind and `Retry-After` when known.
struct HTMLDialect: ErrorDialect {
    let pages: PageRenderer

    func response(for error: SignetError) -> Response {
        var headers: HTTPFields = [:]
        if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
        return pages.response(.error(error), headers: headers)
    }
}
