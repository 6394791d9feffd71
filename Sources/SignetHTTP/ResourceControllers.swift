import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662).
struct TokenManagementController: Sendable {
    let services: TokenServices

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.post("oauth2/revoke", use: revoke)
        routes.post("oauth2/introspect", use: introspect)
        return routes
    }

    /// Always 200 for a well-formed, client-authenticated request, whatever the token was.
    @Sendable func revoke(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let parameters = try await OAuthParameters.parse(request, context: context, limit: services.environment.settings.http.publicBodyLimit)
        let client = try await services.clients.authenticate(try parameters.clientCredentials(authorization: request.headers[.authorization]))
        let token = try parameters.required("token")
        // token_type_hint is advisory (RFC 7009 §2.1): both kinds are recognised by their form.
        try await services.revocations.revoke(token: token, client: client, origin: context.origin)
        return Response(status: .ok, headers: [.cacheControl: "no-store", .pragma: "no-cache"])
    }

    /// Only confidential clients (resource servers) may introspect.
    @Sendable func introspect(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let parameters = try await OAuthParameters.parse(request, context: context, limit: services.environment.settings.http.publicBodyLimit)
        let client = try await services.clients.authenticate(try parameters.clientCredentials(authorization: request.headers[.authorization]))
        guard client.isConfidential else {
            throw OAuthError(.invalidClient, "introspection needs a confidential client")
        }
        let result = try await services.introspection.introspect(token: try parameters.required("token"), client: client)
        return try jsonResponse(result, headers: [.cacheControl: "no-store", .pragma: "no-cache"])
    }
}

/// `GET|POST /userinfo` (OIDC Core §5.3): the claims of the bearer's user.
struct UserinfoController: Sendable {
    let services: TokenServices

    struct Claims: Encodable {
        var sub: String
        var preferred_username: String?
        var email: String?
        var roles: [String]
    }

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("userinfo", use: userinfo)
        routes.post("userinfo", use: userinfo)
        return routes
    }

    @Sendable func userinfo(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let (claims, user) = try await BearerAuthentication.user(request, services: services, audience: .any)
        let scopes = Set(claims.scope.split(separator: " ").map(String.init))
        guard scopes.contains("openid") else {
            throw BearerError(.forbidden, "insufficient_scope", "the token lacks the openid scope", scope: "openid")
        }
        return try jsonResponse(
            Claims(
                sub: claims.sub, preferred_username: scopes.contains("profile") ? user.username : nil,
                email: scopes.contains("email") ? user.email : nil, roles: user.roles),
            headers: [.cacheControl: "no-store"])
    }
}

/// Reads and checks `Authorization: Bearer …` (RFC 6750) through the shared ``TokenVerifier``.
enum BearerAuthentication {
    /// A live token for `audience` that speaks for an existing, enabled user, and that user.
    static func user(
        _ request: Request, services: TokenServices, audience: TokenVerifier.ExpectedAudience
    ) async throws -> (AccessTokenClaims, User) {
        let claims = try await verify(request, with: services.verifier, audience: audience)
        guard let userID = claims.userID, let user = try await services.environment.users.store.find(id: userID), !user.disabled
        else { throw BearerError(.unauthorized, "invalid_token", "the token does not belong to a user") }
        return (claims, user)
    }

    static func verify(
        _ request: Request, with verifier: TokenVerifier, audience: TokenVerifier.ExpectedAudience
    ) async throws -> AccessTokenClaims {
        guard let header = request.headers[.authorization] else {
            throw BearerError(.unauthorized, nil, "a bearer token is required")
        }
        guard header.lowercased().hasPrefix("bearer ") else {
            throw BearerError(.unauthorized, "invalid_request", "use the Bearer scheme")
        }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        do {
            return try await verifier.verify(token, audience: audience)
        } catch is TokenVerifier.Rejection {
            throw BearerError(.unauthorized, "invalid_token", "the access token is not valid")
        }
    }
}

/// A refused bearer request: status, RFC 6750 error code and the `WWW-Authenticate` challenge.
struct BearerError: Error {
    var status: HTTPResponse.Status
    var code: String?
    var description: String
    var scope: String?

    init(_ status: HTTPResponse.Status, _ code: String?, _ description: String, scope: String? = nil) {
        self.status = status
        self.code = code
        self.description = description
        self.scope = scope
    }

    var response: Response {
        var challenge = #"Bearer realm="signet""#
        if let code { challenge += #", error="\#(code)", error_description="\#(description)""# }
        if let scope { challenge += #", scope="\#(scope)""# }
        let body = ErrorBody(error: code ?? "invalid_request", error_description: description)
        return (try? jsonResponse(body, status: status, headers: [.wwwAuthenticate: challenge, .cacheControl: "no-store"]))
            ?? Response(status: status)
    }
}

/// `{"error": …, "error_description": …}`, the error shape of every Signet endpoint.
struct ErrorBody: Encodable {
    var error: String
    var error_description: String
}

/// Renders ``BearerError``s of the resource endpoints.
struct BearerErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as BearerError {
            return error.response
        }
    }
}

/// A JSON response encoded with sorted keys (deterministic bytes).
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: try sortedJSONEncoder.encode(value))))
}
