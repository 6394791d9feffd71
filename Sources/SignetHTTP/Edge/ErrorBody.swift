import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// `{"error": …, "error_description": …}`, the error shape of every Signet endpoint.
struct ErrorBody: Encodable {
    var error: String
    var error_description: String

    init(error: String, error_description: String) {
        self.error = error
        self.error_description = error_description
    }

    init(_ error: SignetError) {
        self.init(error: error.code.rawValue, error_description: error.description)
    }
}

extension SignetError {
    /// The HTTP status of a refusal of this kind, the same in every dialect.
    var status: HTTPResponse.Status {
        switch kind {
        case .invalidInput: .badRequest
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .rateLimited: .tooManyRequests
        case .unavailable: .serviceUnavailable
        }
    }
}

/// A JSON response encoded with sorted keys (deterministic bytes).
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: try sortedJSONEncoder.encode(value))))
}

/// A JSON error response in the contract's shape, for the edge's own answers (unmatched routes,
/// Hummingbird's errors, an unavailable database) that no dialect's renderer saw.
func errorResponse(_ status: HTTPResponse.Status, _ code: ErrorCode, _ description: String) -> Response {
    (try? jsonResponse(ErrorBody(error: code.rawValue, error_description: description), status: status,
                       headers: [.cacheControl: "no-store"])) ?? Response(status: status)
}
