import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore

/// An admin API refusal in the contract's shape `{"error": …, "error_description": …}`.
struct AdminError: Error {
    var status: HTTPResponse.Status
    var code: String
    var description: String

    static func notFound(_ what: String) -> AdminError { AdminError(status: .notFound, code: "not_found", description: "no such \(what)") }
    static func invalidRequest(_ description: String) -> AdminError {
        AdminError(status: .badRequest, code: "invalid_request", description: description)
    }
    static func conflict(_ description: String) -> AdminError { AdminError(status: .conflict, code: "conflict", description: description) }
}
