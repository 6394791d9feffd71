import Foundation
import Hummingbird
import NIOCore
import SignetCore

/// The parameters of an OAuth request body: `application/x-www-form-urlencoded` (RFC 6749) or a
/// JSON object of strings with the same names. Repeated parameters are refused (RFC 6749 §3.2)
/// and empty ones count as absent.
struct OAuthParameters: Sendable {
    private var values: [String: String]

    init(_ values: [String: String]) {
        self.values = values.filter { !$0.value.isEmpty }
    }

    subscript(name: String) -> String? { values[name] }

    /// Every parameter by name (empty ones left out).
    var all: [String: String] { values }

    func required(_ name: String) throws(SignetError) -> String {
        guard let value = values[name] else { throw .invalidRequest("\(name) is required") }
        return value
    }

    static func parse(_ request: Request, context: some RequestContext, limit: Int) async throws -> OAuthParameters {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw SignetError(.invalidRequest, "the body is larger than \(limit) bytes", kind: .tooLarge)
        }
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        switch mediaType {
        case "application/x-www-form-urlencoded":
            return try form(String(buffer: body))
        case "application/json":
            return try json(Data(buffer: body))
        default:
            throw SignetError.invalidRequest("the body must be application/x-www-form-urlencoded or application/json")
        }
    }

    /// The parameters of an endpoint that takes both methods (OIDC Core §3.1.2.1): the query of a
    /// GET, the body of a POST.
    static func of(_ request: Request, context: some RequestContext, limit: Int) async throws -> OAuthParameters {
        request.method == .post ? try await parse(request, context: context, limit: limit) : try form(request.uri.query ?? "")
    }

    static func form(_ text: String) throws(SignetError) -> OAuthParameters {
        var values: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]) else { throw .invalidRequest("a parameter name is not valid UTF-8 form encoding") }
            guard let value = decode(parts.count == 2 ? parts[1] : "") else {
                throw .invalidRequest("parameter \(Self.printable(name)) is not valid UTF-8 form encoding")
            }
            try check(name, value)
            guard values.updateValue(value, forKey: name) == nil else {
                throw .invalidRequest("parameter \(name) is repeated")
            }
        }
        return OAuthParameters(values)
    }

    static func json(_ data: Data) throws(SignetError) -> OAuthParameters {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .invalidRequest("the body is not a JSON object")
        }
        if let name = RepeatedJSONMembers.first(in: data) {
            throw .invalidRequest("parameter \(printable(name)) is repeated")
        }
        var values: [String: String] = [:]
        for (name, value) in object {
            guard let text = value as? String else { throw .invalidRequest("parameter \(name) must be a string") }
            try check(name, text)
            values[name] = text
        }
        return OAuthParameters(values)
    }

    /// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; the result must
    /// be UTF-8. `nil` for a broken escape or invalid UTF-8.
    static func decode(_ part: Substring) -> String? {
        let utf8 = part.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return String(part) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let high = utf8.index(after: index)
                guard high != utf8.endIndex else { return nil }
                let low = utf8.index(after: high)
                guard low != utf8.endIndex, let h = hexValue(utf8[high]), let l = hexValue(utf8[low]) else { return nil }
                bytes.append(h << 4 | l)
                index = utf8.index(after: low)
            } else {
                bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index = utf8.index(after: index)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The longest value each parameter may have, in bytes; others may have up to `defaultMaximum`.
    /// (`token` may exceed what the verifier accepts: an oversized token is inactive, not an error.)
    static let maximumBytes: [String: Int] = [
        "grant_type": 64, "username": 1024, "password": 1024, "scope": 1024, "client_id": 128, "client_secret": 256,
        "refresh_token": 128, "token": 2 * TokenVerifier.maximumTokenBytes, "token_type_hint": 64,
        "redirect_uri": RedirectURI.maximumBytes, "post_logout_redirect_uri": RedirectURI.maximumBytes,
        "id_token_hint": 2 * TokenVerifier.maximumTokenBytes, "code": 128, "code_verifier": 128,
    ]
    static let defaultMaximum = 1024

    private static func check(_ name: String, _ value: String) throws(SignetError) {
        guard name.utf8.count <= 64, !name.unicodeScalars.contains("\0") else {
            throw .invalidRequest("a parameter name is too long or contains NUL")
        }
        if value.unicodeScalars.contains("\0") {
            throw .invalidRequest("parameter \(printable(name)) contains a NUL byte")
        }
        let maximum = maximumBytes[name] ?? defaultMaximum
        if value.utf8.count > maximum {
            throw .invalidRequest("parameter \(printable(name)) is longer than \(maximum) bytes")
        }
    }

    /// A parameter name fit to quote in an error description.
    private static func printable(_ name: String) -> String {
        name.unicodeScalars.allSatisfy { $0.isASCII && !$0.properties.isWhitespace && $0.value >= 0x21 } ? name : "(unprintable name)"
    }
}

extension OAuthParameters {
    /// The client credentials of the request (RFC 6749 §2.3.1): HTTP Basic, or `client_id` and
    /// `client_secret` in the body, or `client_id` alone for a public client. Using two methods
    /// at once is an error.
    func clientCredentials(authorization: String?) throws(SignetError) -> ClientCredentials {
        if let authorization, authorization.lowercased().hasPrefix("basic ") {
            let encoded = authorization.dropFirst(6).trimmingCharacters(in: .whitespaces)
            guard let data = Data(base64Encoded: encoded), let decoded = String(data: data, encoding: .utf8),
                  let colon = decoded.firstIndex(of: ":"),
                  let id = Self.decode(decoded[..<colon]), let secret = Self.decode(decoded[decoded.index(after: colon)...]),
                  !id.isEmpty, id.utf8.count <= Self.maximumBytes["client_id"]!, secret.utf8.count <= Self.maximumBytes["client_secret"]!,
                  !id.unicodeScalars.contains("\0"), !secret.unicodeScalars.contains("\0")
            else { throw SignetError.invalidClient }
            if self["client_secret"] != nil || (self["client_id"] != nil && self["client_id"] != id) {
                throw .invalidRequest("use one client authentication method, not several")
            }
            return .basic(clientID: id, secret: secret)
        }
        guard let id = self["client_id"] else {
            throw SignetError(.invalidClient, "client authentication is required")
        }
        if let secret = self["client_secret"] {
            return .post(clientID: id, secret: secret)
        }
        return .none(clientID: id)
    }
}
