import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// `{"error": …, "error_description": …}`, the error shape of every Signet endpoint.
struct ErrorBody: Encodable {
    var error: String
    var error_description: String
}

/// A JSON response encoded with sorted keys (deterministic bytes).
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: try sortedJSONEncoder.encode(value))))
}
