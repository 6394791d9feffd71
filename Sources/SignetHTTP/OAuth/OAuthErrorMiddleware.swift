import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// Renders every refusal of the OAuth endpoints in the RFC 6749 §5.2 shape, in one place:
/// `{"error": …, "error_description": …}` with the status and headers the code calls for.
struct OAuthErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as OAuthError {
            return Self.response(for: error)
        } catch let error as ValidationError {
            return Self.response(for: .invalidRequest("\(error.field) \(error.reason)"))
        }
    }

    static func response(for error: OAuthError) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"]
        let status: HTTPResponse.Status
        switch error.code {
        case .invalidClient:
            status = .unauthorized
            headers[.wwwAuthenticate] = #"Basic realm="signet", charset="UTF-8""#
        case .temporarilyUnavailable:
            status = .serviceUnavailable
        case .slowDown:
            status = .tooManyRequests
        default:
            status = .badRequest
        }
        let final = error.status.map { HTTPResponse.Status(code: $0) } ?? status
        if let retryAfter = error.retryAfter {
            headers[.retryAfter] = String(retryAfter)
        }
        let body = try! sortedJSONEncoder.encode(ErrorBody(error: error.code.rawValue, error_description: error.description))
        return Response(status: final, headers: headers, body: .init(byteBuffer: ByteBuffer(data: body)))
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
