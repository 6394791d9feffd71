import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// The redirects of the browser flow back to an application: to a registered URI, with the
/// answer in its query (`response_mode=query`) and `iss` on every one (RFC 9207).
enum AuthorizationResponse {
    /// The errors that go back to the application (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6);
    /// everything else is shown as a page.
    static let redirectable: Set<ErrorCode> = [
        .invalidRequest, .unsupportedResponseType, .invalidScope, .accessDenied, .loginRequired, .consentRequired,
        .interactionRequired, .requestNotSupported, .requestURINotSupported,
    ]

    /// A redirect to `uri` with `parameters` (in order) added to its query. `303` after a form
    /// post, so the browser follows with GET; `302` otherwise.
    static func redirect(to uri: String, _ parameters: [(String, String?)], afterPost: Bool) -> Response {
        let query = parameters.compactMap { name, value in value.map { "\(name)=\(encode($0))" } }.joined(separator: "&")
        let location = query.isEmpty ? uri : uri + (uri.contains("?") ? "&" : "?") + query
        return Response(
            status: afterPost ? .seeOther : .found,
            headers: [.location: location, .cacheControl: "no-store", .pragma: "no-cache", .referrerPolicy: "no-referrer"])
    }

    /// The answer to `target`: a code, or an error.
    static func code(_ code: String, target: AuthorizationRequest.Target, issuer: String, afterPost: Bool) -> Response {
        redirect(to: target.redirectURI, [("code", code), ("state", target.state), ("iss", issuer)], afterPost: afterPost)
    }

    static func error(_ error: SignetError, target: AuthorizationRequest.Target, issuer: String, afterPost: Bool) -> Response {
        redirect(
            to: target.redirectURI,
            [("error", error.code.rawValue), ("error_description", error.description), ("state", target.state), ("iss", issuer)],
            afterPost: afterPost)
    }

    /// Percent-encodes everything but the unreserved characters (RFC 3986 §2.3), byte by byte.
    static func encode(_ value: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
