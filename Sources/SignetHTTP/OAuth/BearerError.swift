import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// A refused bearer request: status, RFC 6750 error code and the `WWW-Authenticate` challenge.
struct BearerError: Error {
    var status: HTTPResponse.Status
    var code: String?
    var description: String
    var scope: String?

    init(_ status: HTTPResponse.Status, _ code: String?, _ description: String, scope: String? = nil) {
        self.status = status
        self.code = code
        self.description = description
        self.scope = scope
    }

    var response: Response {
        var challenge = #"Bearer realm="signet""#
        if let code { challenge += #", error="\#(code)", error_description="\#(description)""# }
        if let scope { challenge += #", scope="\#(scope)""# }
        let body = ErrorBody(error: code ?? "invalid_request", error_description: description)
        return (try? jsonResponse(body, status: status, headers: [.wwwAuthenticate: challenge, .cacheControl: "no-store"]))
            ?? Response(status: status)
    }
}

/// Renders ``BearerError``s of the resource endpoints.
struct BearerErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as BearerError {
            return error.response
        }
    }
}
