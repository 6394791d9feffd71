import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// The refusals of the OAuth endpoints in the RFC 6749 §5.2 shape, in one place:
/// `{"error": …, "error_description": …}` with the status of its kind, `Retry-After` when known,
/// and the Basic challenge for failed client authentication (§5.2 `invalid_client`).
struct OAuthDialect: ErrorDialect {
    func response(for error: SignetError) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"]
        if error.code == .invalidClient {
            headers[.wwwAuthenticate] = #"Basic realm="signet", charset="UTF-8""#
        }
        if let retryAfter = error.retryAfter {
            headers[.retryAfter] = String(retryAfter)
        }
        let body = try! sortedJSONEncoder.encode(ErrorBody(error))
        return Response(status: error.status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: body)))
    }
}

extension HTTPField.Name {
    static let pragma = Self("Pragma")!
}

/// Encodes with sorted keys and unescaped slashes: deterministic bytes for equal values.
let sortedJSONEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}()
