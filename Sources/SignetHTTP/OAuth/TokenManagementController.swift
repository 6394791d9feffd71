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
        let client = try await services.clients.authenticate(
            try parameters.clientCredentials(authorization: request.headers[.authorization]), from: context.clientAddress,
            origin: context.origin)
        let token = try parameters.required("token")
        // token_type_hint is advisory (RFC 7009 §2.1): both kinds are recognised by their form.
        try await services.revocations.revoke(token: token, client: client, origin: context.origin)
        return Response(status: .ok, headers: [.cacheControl: "no-store", .pragma: "no-cache"])
    }

    /// Only confidential clients (resource servers) may introspect.
    @Sendable func introspect(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let parameters = try await OAuthParameters.parse(request, context: context, limit: services.environment.settings.http.publicBodyLimit)
        let client = try await services.clients.authenticate(
            try parameters.clientCredentials(authorization: request.headers[.authorization]), from: context.clientAddress,
            origin: context.origin)
        guard client.isConfidential else {
            throw SignetError(.invalidClient, "introspection needs a confidential client")
        }
        let answer = try await services.introspection.answer(token: try parameters.required("token"), client: client)
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: answer)))
    }
}
