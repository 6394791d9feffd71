import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SignetCore
import SignetHTTP
import SignetTestSupport
import Synchronization

/// A browser for the sign-in pages, as far as these tests need one: a cookie jar, the forms'
/// hidden fields, and the redirects back to the application.
final class TestBrowser: Sendable {
    let client: any TestClientProtocol
    let origin: String
    private let jar = Mutex<[String: String]>([:])

    var cookies: [String: String] { jar.withLock { $0 } }

    init(_ client: any TestClientProtocol, origin: String = "http://localhost:8080") {
        self.client = client
        self.origin = origin
    }

    func get(_ path: String, _ query: [(String, String)] = []) async throws -> TestResponse {
        let uri = query.isEmpty ? path : path + "?" + Form.encode(query)
        return remember(try await client.execute(uri: uri, method: .get, headers: cookieHeader()))
    }

    func post(_ path: String, _ fields: [(String, String)], origin: String?? = .none) async throws -> TestResponse {
        var headers = cookieHeader()
        headers[.contentType] = "application/x-www-form-urlencoded"
        if let origin = origin ?? self.origin { headers[.origin] = origin }
        return remember(try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: Form.encode(fields))))
    }

    /// Submits the page's form: its hidden fields plus `fields`.
    func submit(_ page: TestResponse, to path: String = "/oauth2/authorize", _ fields: [(String, String)]) async throws -> TestResponse {
        try await post(path, Self.hiddenFields(page) + fields)
    }

    func forget(_ name: String) { jar.withLock { $0[name] = nil } }
    func set(_ name: String, _ value: String) { jar.withLock { $0[name] = value } }

    private func cookieHeader() -> HTTPFields {
        var headers: HTTPFields = [:]
        let cookies = self.cookies
        if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
        return headers
    }

    private func remember(_ response: TestResponse) -> TestResponse {
        for header in response.headers[values: .setCookie] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]), value = pair.count > 1 ? String(pair[1]) : ""
            jar.withLock { $0[name] = value.isEmpty || header.contains("Max-Age=0") ? nil : value }
        }
        return response
    }

    static func hiddenFields(_ page: TestResponse) -> [(String, String)] {
        let html = String(buffer: page.body)
        return html.matches(of: /<input type="hidden" name="([^"]*)" value="([^"]*)">/).map {
            (unescape(String($0.output.1)), unescape(String($0.output.2)))
        }
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

/// A PKCE pair.
struct PKCEPair {
    let verifier: String
    let challenge: String

    init() {
        verifier = (0..<3).map { _ in UUID().uuidString }.joined(separator: "-")
        challenge = PKCE.challenge(for: verifier)
    }
}

extension TestResponse {
    var html: String { String(buffer: body) }

    /// The query of the `Location` this response redirects to, by name.
    var redirectQuery: [String: String] {
        guard let location = headers[.location], let components = URLComponents(string: location) else { return [:] }
        return Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }) { first, _ in first }
    }

    /// The text of the page's `role="alert"` element, if any.
    var alert: String? {
        html.firstMatch(of: /role="alert">([^<]*)</).map { String($0.output.1) }
    }

    var isLoginPage: Bool { status == .ok && html.contains(#"name="password""#) }
    var isConsentPage: Bool { status == .ok && html.contains(#"name="decision" value="allow""#) }
}

extension TestServices {
    /// Registers a client that signs users in through the browser; returns its secret.
    @discardableResult
    func codeClient(
        _ id: String, method: ClientAuthMethod = .clientSecretBasic, name: String? = nil,
        grants: [GrantType] = [.authorizationCode, .refreshToken], scopes: [String] = ["openid", "profile", "email"],
        redirect: String = "https://app.example/callback", postLogout: [String] = ["https://app.example/bye"],
        requirePKCE: Bool? = nil, skipConsent: Bool = true, idTokenAlgorithm: SigningAlgorithm = .rs256
    ) async throws -> String? {
        try await services.clients.register(
            .init(
                clientID: id, clientName: name, authMethod: method, grantTypes: grants, scopes: scopes, redirectURIs: [redirect],
                postLogoutRedirectURIs: postLogout, requirePKCE: requirePKCE, skipConsent: skipConsent, idTokenAlgorithm: idTokenAlgorithm),
            lifetimes: settings.lifetimes
        ).secret
    }
}

/// The parameters of an authorization request for `client` with PKCE.
func authorizationRequest(
    _ client: String, pkce: PKCEPair? = PKCEPair(), redirect: String = "https://app.example/callback", scope: String = "openid profile email",
    state: String = "xyz", nonce: String? = "n-0S6_WzA2Mj", extra: [(String, String)] = []
) -> [(String, String)] {
    var query = [("response_type", "code"), ("client_id", client), ("redirect_uri", redirect), ("scope", scope), ("state", state)]
    if let nonce { query.append(("nonce", nonce)) }
    if let pkce { query += [("code_challenge", pkce.challenge), ("code_challenge_method", "S256")] }
    return query + extra
}
