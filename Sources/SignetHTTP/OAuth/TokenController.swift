import Foundation
import Hummingbird
import SignetCore

/// `POST /oauth2/token` (RFC 6749 §3.2): dispatches to the unit of each ``GrantType``.
struct TokenController: Sendable {
    let services: TokenServices
    /// Failed password logins per client address; when spent, password logins get 429. A token is
    /// taken before the password is hashed and given back when the login succeeds, so a burst of
    /// concurrent guesses is held to the bucket like a sequence of them.
    let failedLogins: TokenBuckets

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.post("oauth2/token", use: token)
        return routes
    }

    @Sendable func token(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let parameters = try await OAuthParameters.parse(request, context: context, limit: services.environment.settings.http.publicBodyLimit)
        let credentials = try parameters.clientCredentials(authorization: request.headers[.authorization])
        let grantType = try parameters.required("grant_type")
        guard let grant = GrantType(rawValue: grantType) else {
            throw SignetError(.unsupportedGrantType, "grant_type \(grantType) is not supported")
        }
        let client = try await services.clients.authenticate(credentials, from: context.clientAddress, origin: context.origin)
        // RFC 9449: a proof binds the access token (and a public client's refresh tokens) to its key.
        let dpop = try await services.dpop.check(
            request.headers[values: .dpop], method: "POST", url: services.environment.settings.issuerString + "/oauth2/token")
        let scope = parameters["scope"]
        let result: TokenResponse
        switch grant {
        case .password:
            let username = try parameters.required("username")
            let password = try parameters.required("password")
            let source = context.limitKey
            if let wait = failedLogins.take(source) {
                throw SignetError(.slowDown, "too many failed logins from this address; retry after \(wait)s", retryAfter: wait)
            }
            do {
                result = try await services.grants.password(
                    client: client, username: username, password: password, totp: parameters["totp"], scope: scope, source: source,
                    dpop: dpop, origin: context.origin)
            } catch let error as SignetError where error.code == .invalidGrant {
                // A wrong password or second factor keeps the address's failed-login token spent.
                throw error
            } catch {
                failedLogins.refund(source)
                throw error
            }
            failedLogins.refund(source)
        case .refreshToken:
            result = try await services.grants.refresh(
                client: client, refreshToken: try parameters.required("refresh_token"), scope: scope, dpop: dpop, origin: context.origin)
        case .clientCredentials:
            result = try await services.grants.clientCredentials(client: client, scope: scope, dpop: dpop)
        case .authorizationCode:
            result = try await services.grants.authorizationCode(
                client: client, code: try parameters.required("code"), redirectURI: parameters["redirect_uri"],
                codeVerifier: parameters["code_verifier"], dpop: dpop, origin: context.origin)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: result.jsonBytes(capacity: 1024))))
    }
}
