import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import SignetCore
import SignetHTTP
import SignetTestSupport

/// A successful token response as a client library sees it.
struct TokenBody: Decodable, Equatable {
    var access_token: String
    var token_type: String
    var expires_in: Int
    var refresh_token: String?
    var scope: String
}

/// An RFC 6749 error body.
struct ErrorBody: Decodable, Equatable {
    var error: String
    var error_description: String?
}

enum Form {
    static func encode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { name, value in
            name.addingPercentEncoding(withAllowedCharacters: allowed)! + "=" + value.addingPercentEncoding(withAllowedCharacters: allowed)!
        }.joined(separator: "&")
    }

    static func basic(_ id: String, _ secret: String) -> String {
        "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
    }
}

extension TestClientProtocol {
    /// POSTs a form to the token endpoint, with HTTP Basic when `basic` is given.
    func token(_ fields: [(String, String)], basic: (String, String?)? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let (id, secret) = basic { headers[.authorization] = Form.basic(id, secret ?? "") }
        return try await execute(
            uri: "/oauth2/token", method: .post, headers: headers, body: ByteBuffer(string: Form.encode(fields)))
    }

    /// Logs `username` in through `client` (Basic auth) and returns the decoded body.
    func login(_ username: String, password: String = "correct horse battery", client: String, secret: String?,
               scope: String? = nil) async throws -> TokenBody {
        var fields = [("grant_type", "password"), ("username", username), ("password", password)]
        if let scope { fields.append(("scope", scope)) }
        let response = try await token(fields, basic: (client, secret))
        guard response.status == .ok else { throw UnexpectedResponse(response) }
        return try JSONDecoder().decode(TokenBody.self, from: Data(buffer: response.body))
    }

    func refresh(_ refreshToken: String, client: String, secret: String?) async throws -> TestResponse {
        try await token([("grant_type", "refresh_token"), ("refresh_token", refreshToken)], basic: (client, secret))
    }

    func jwks() async throws -> String {
        try await execute(uri: "/.well-known/jwks.json", method: .get) { String(buffer: $0.body) }
    }
}

struct UnexpectedResponse: Error, CustomStringConvertible {
    var description: String
    init(_ response: TestResponse) {
        description = "\(response.status): \(String(buffer: response.body))"
    }
}

extension TestResponse {
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer: body))
    }
}

/// The decoded (unverified) parts of a JWT, for assertions on header and claims.
struct DecodedJWT {
    var header: [String: Any]
    var claims: [String: Any]

    init(_ token: String) throws {
        let parts = token.split(separator: ".").map(String.init)
        guard parts.count == 3, let header = Data(base64URLEncoded: parts[0]), let claims = Data(base64URLEncoded: parts[1]) else {
            throw UnexpectedResponse.malformed
        }
        self.header = try JSONSerialization.jsonObject(with: header) as? [String: Any] ?? [:]
        self.claims = try JSONSerialization.jsonObject(with: claims) as? [String: Any] ?? [:]
    }
}

extension UnexpectedResponse {
    static let malformed = UnexpectedResponse(description: "malformed JWT")
    init(description: String) { self.description = description }
}

/// Verifies `token` the way a gateway does: only with the published JWKS.
func verifyWithJWKS(_ token: String, jwks: String) async throws -> AccessTokenClaims {
    let keys = try await JWTKeyCollection().add(jwksJSON: jwks)
    return try await keys.verify(token, as: AccessTokenClaims.self)
}
