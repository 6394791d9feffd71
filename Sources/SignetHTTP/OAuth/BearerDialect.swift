import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

extension SignetError {
    /// A request to a bearer-protected endpoint that carried no token at all.
    static let bearerTokenRequired = SignetError(.invalidRequest, "a bearer token is required", kind: .unauthenticated)
}

/// The refusals of bearer-protected endpoints (RFC 6750 §3), in one place: the JSON body and the
/// `WWW-Authenticate: Bearer` challenge, with `error` and `error_description` unless no token was
/// presented at all, and the `scope` a token lacks.
struct BearerDialect: ErrorDialect {
    func response(for error: SignetError) -> Response {
        var challenge = #"Bearer realm="signet""#
        if error != .bearerTokenRequired {
            challenge += #", error="\#(error.code)", error_description="\#(error.description)""#
        }
        if let scope = error.requiredScope { challenge += #", scope="\#(scope)""# }
        if error.code == .insufficientUserAuthentication { challenge += #", acr_values="2""# }
        return (try? jsonResponse(ErrorBody(error), status: error.status, headers: [.wwwAuthenticate: challenge, .cacheControl: "no-store"]))
            ?? Response(status: error.status)
    }
}
