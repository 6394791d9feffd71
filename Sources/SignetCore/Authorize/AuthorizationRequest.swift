import Foundation

/// A checked authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636).
///
/// Checked in two stages, as RFC 6749 §4.1.2.1 requires: ``target(_:clients:)`` finds the client
/// and the redirect URI, whose failures must never redirect (they are shown as a page); then
/// ``init(_:target:verifier:)`` checks everything else, whose failures go back to the client.
public struct AuthorizationRequest: Sendable {
    /// Where answers go: a registered client and one of its registered redirect URIs.
    public struct Target: Sendable {
        public var client: Client
        public var redirectURI: String
        /// Echoed as sent on every answer.
        public var state: String?
    }

    public enum Prompt: String, Sendable, CaseIterable {
        case none, login, consent
        case selectAccount = "select_account"
    }

    public var target: Target
    public var scopes: [String]
    public var nonce: String?
    public var codeChallenge: String?
    public var prompt: Set<Prompt>
    public var maxAge: Int?
    /// The `sub` of a valid `id_token_hint`.
    public var hintedSubject: String?
    public var loginHint: String?
    /// `acr_values` as asked (OIDC Core §3.1.2.1): `2` demands a second factor. Values Signet
    /// does not know are ignored, as a voluntary claim request allows.
    public var acrValues: [String] = []

    /// Whether the request accepts only the two-factor level (`acr_values=2`).
    public var demandsSecondFactor: Bool { !acrValues.isEmpty && acrValues.allSatisfy { $0 == "2" } }

    public var client: Client { target.client }
    public var scope: String { scopes.joined(separator: " ") }

    /// The client and redirect URI of a request, or the refusal to show as a page.
    public static func target(_ parameters: [String: String], clients: ClientRegistry) async throws -> Target {
        guard let clientID = parameters["client_id"] else { throw SignetError.invalidRequest("client_id is required") }
        guard clientID.utf8.count <= 128, let client = try await clients.find(clientID: clientID) else {
            throw SignetError.invalidRequest("client_id does not name a registered application")
        }
        guard client.allows(.authorizationCode) else {
            throw SignetError(.unauthorizedClient, "this application may not use browser sign-in (authorization_code)")
        }
        guard let redirectURI = parameters["redirect_uri"] else {
            throw SignetError.invalidRequest("redirect_uri is required")
        }
        guard client.redirectURIs.contains(redirectURI) else {
            throw SignetError.invalidRequest("redirect_uri is not registered for this application")
        }
        return Target(client: client, redirectURI: redirectURI, state: parameters["state"])
    }

    /// Checks the rest of the request; every refusal may be redirected to `target`.
    public init(_ parameters: [String: String], target: Target, verifier: TokenVerifier) async throws {
        self.target = target
        if parameters["request"] != nil {
            throw SignetError(.requestNotSupported, "request objects are not supported; send the parameters directly")
        }
        if parameters["request_uri"] != nil {
            throw SignetError(.requestURINotSupported, "request_uri is not supported; send the parameters directly")
        }
        guard let responseType = parameters["response_type"] else { throw SignetError.invalidRequest("response_type is required") }
        guard responseType == "code" else {
            throw SignetError(.unsupportedResponseType, "only response_type=code is supported")
        }
        if let mode = parameters["response_mode"], mode != "query" {
            throw SignetError.invalidRequest("only response_mode=query is supported")
        }
        let client = target.client
        if let scope = parameters["scope"] {
            guard let scopes = Scope.parse(scope) else { throw SignetError(.invalidScope, "scope is malformed") }
            if let extra = scopes.first(where: { !client.scopes.contains($0) }) {
                throw SignetError(.invalidScope, "scope \"\(extra)\" is not allowed for this application")
            }
            self.scopes = scopes
        } else {
            scopes = client.scopes
        }
        nonce = parameters["nonce"]
        codeChallenge = try PKCE.requestedChallenge(challenge: parameters["code_challenge"], method: parameters["code_challenge_method"])
        if codeChallenge == nil && client.requirePKCE {
            throw SignetError.invalidRequest("code_challenge (PKCE, S256) is required for this application")
        }
        var prompt: Set<Prompt> = []
        for value in (parameters["prompt"] ?? "").split(separator: " ") {
            guard let known = Prompt(rawValue: String(value)) else {
                throw SignetError.invalidRequest("prompt \"\(value.prefix(32))\" is not supported (none, login, consent, select_account)")
            }
            prompt.insert(known)
        }
        if prompt.contains(.none) && prompt.count > 1 {
            throw SignetError.invalidRequest("prompt=none cannot be combined with other values")
        }
        self.prompt = prompt
        if let text = parameters["max_age"] {
            guard let seconds = Int(text), seconds >= 0 else { throw SignetError.invalidRequest("max_age must be a whole number of seconds") }
            maxAge = seconds
        }
        if let hint = parameters["id_token_hint"] {
            guard let claims = await verifier.idTokenHint(hint) else {
                throw SignetError.invalidRequest("id_token_hint is not an ID token issued by this provider")
            }
            hintedSubject = claims.sub
        }
        loginHint = parameters["login_hint"].map { String($0.prefix(256)) }
        acrValues = (parameters["acr_values"] ?? "").split(separator: " ").map(String.init).filter { ["1", "2"].contains($0) }
        // display, ui_locales and claims_locales are accepted; Signet has one page layout and one language.
    }
}
