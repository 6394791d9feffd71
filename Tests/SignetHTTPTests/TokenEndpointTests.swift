import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

@Suite("Token endpoint", .timeLimit(.minutes(2)))
struct TokenEndpointTests {
    @Test func passwordGrantIssuesAnRFC9068AccessTokenAndARefreshToken() async throws {
        try await TestServices.with { t in
            let alice = try await t.user("alice", roles: ["user"])
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let response = try await client.token(
                    [("grant_type", "password"), ("username", "Alice"), ("password", "correct horse battery")],
                    basic: ("web", secret))
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(response.headers[.init("Pragma")!] == "no-cache")
                let body = try response.decode(TokenBody.self)
                #expect(body.token_type == "Bearer")
                #expect(body.expires_in == 600)
                #expect(body.scope == "openid profile api")
                let refresh = try #require(body.refresh_token)
                #expect(refresh.count >= 40)

                let jwt = try DecodedJWT(body.access_token)
                let payload = try #require(Data(base64URLEncoded: String(body.access_token.split(separator: ".")[1])))
                #expect(String(decoding: payload, as: UTF8.self).contains(#""iss":"http://localhost:8080""#))
                #expect(jwt.header["alg"] as? String == "ES256")
                #expect(jwt.header["typ"] as? String == "at+jwt")
                let kid = try #require(jwt.header["kid"] as? String)
                let jwks = try await client.jwks()
                #expect(jwks.contains(kid))

                let claims = try await verifyWithJWKS(body.access_token, jwks: jwks)
                #expect(claims.iss == "http://localhost:8080")
                #expect(claims.sub == alice.id.uuidString.lowercased())
                #expect(claims.aud.value == ["http://localhost:8080"])
                #expect(claims.exp - claims.iat == 600)
                #expect(claims.nbf == claims.iat)
                #expect(abs(Double(claims.iat) - Date().timeIntervalSince1970) < 60)
                #expect(claims.client_id == "web")
                #expect(claims.scope == "openid profile api")
                #expect(claims.roles == ["user"])
                #expect(claims.auth_time != nil)
                let sid = try #require(claims.sid)
                let sessions: [String] = try await t.database.column("SELECT id::text FROM sessions")
                #expect(sessions == [sid])
                #expect(jwt.claims.keys.sorted() == [
                    "acr", "amr", "aud", "auth_time", "client_id", "exp", "iat", "iss", "jti", "nbf", "roles", "scope", "sid", "sub",
                    "sub_type",
                ])
                #expect(claims.amr == ["pwd"] && claims.acr == "1")
            }
        }
    }

    @Test func jsonBodyAndClientSecretPostAndPublicClientsWork() async throws {
        try await TestServices.with { t in
            try await t.user("bob")
            let secret = try await t.client("post-app", method: .clientSecretPost)
            try await t.client("spa", method: .none)
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let json = #"{"grant_type":"password","username":"bob","password":"correct horse battery","client_id":"post-app","client_secret":"\#(secret!)"}"#
                let viaJSON = try await client.execute(
                    uri: "/oauth2/token", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: json))
                #expect(viaJSON.status == .ok)
                let viaForm = try await client.token([
                    ("grant_type", "password"), ("username", "bob"), ("password", "correct horse battery"),
                    ("client_id", "post-app"), ("client_secret", secret!),
                ])
                #expect(viaForm.status == .ok)
                let publicLogin = try await client.token([
                    ("grant_type", "password"), ("username", "bob"), ("password", "correct horse battery"), ("client_id", "spa"),
                ])
                #expect(publicLogin.status == .ok)
                #expect(try publicLogin.decode(TokenBody.self).refresh_token != nil)
            }
        }
    }

    @Test func failedClientAuthenticationIs401WithWWWAuthenticate() async throws {
        try await TestServices.with { t in
            try await t.user("carol")
            let secret = try await t.client("web")
            try await t.client("spa", method: .none)
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let login = [("grant_type", "password"), ("username", "carol"), ("password", "correct horse battery")]
                let cases: [TestResponse] = [
                    try await client.token(login, basic: ("web", "wrong-secret")),
                    try await client.token(login, basic: ("nobody", "secret")),
                    try await client.token(login + [("client_id", "web")]),
                    try await client.token(login),
                    try await client.token(login, basic: ("spa", "a-secret-for-a-public-client")),
                ]
                for response in cases {
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
                    #expect(try response.decode(ErrorBody.self).error == "invalid_client")
                    #expect(response.headers[.cacheControl] == "no-store")
                }
                let twoMethods = try await client.token(login + [("client_secret", secret!)], basic: ("web", secret))
                #expect(twoMethods.status == .badRequest)
                #expect(try twoMethods.decode(ErrorBody.self).error == "invalid_request")
            }
        }
    }

    @Test func wrongPasswordUnknownUserAndDisabledUserAnswerIdentically() async throws {
        try await TestServices.with { t in
            try await t.user("dave")
            try await t.user("erin")
            try await t.services.environment.users.setDisabled(username: "erin", true)
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                func attempt(_ user: String, _ password: String) async throws -> (HTTPResponse.Status, String, String?) {
                    let response = try await client.token(
                        [("grant_type", "password"), ("username", user), ("password", password)], basic: ("web", secret))
                    return (response.status, String(buffer: response.body), response.headers[.cacheControl])
                }
                let wrongPassword = try await attempt("dave", "not the password")
                let unknownUser = try await attempt("zed", "correct horse battery")
                let disabledUser = try await attempt("erin", "correct horse battery")
                #expect(wrongPassword.0 == .badRequest)
                #expect(wrongPassword.1 == #"{"error":"invalid_grant","error_description":"invalid username or password"}"#)
                #expect(unknownUser.0 == wrongPassword.0 && unknownUser.1 == wrongPassword.1 && unknownUser.2 == wrongPassword.2)
                #expect(disabledUser.0 == wrongPassword.0 && disabledUser.1 == wrongPassword.1 && disabledUser.2 == wrongPassword.2, "\(disabledUser)")
                let failures: [String] = try await t.database.column("SELECT type FROM audit_events WHERE type = 'login_failed'")
                #expect(failures.count == 3)
            }
        }
    }

    @Test func rfc6749ErrorCases() async throws {
        try await TestServices.with { t in
            try await t.user("frank")
            let secret = try await t.client("web")
            let cc = try await t.client("service", grants: [.clientCredentials])
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let web = ("web", secret)
                let login = [("username", "frank"), ("password", "correct horse battery")]
                let cases: [(String, TestResponse, String)] = [
                    ("missing grant_type", try await client.token(login, basic: web), "invalid_request"),
                    ("unknown grant_type", try await client.token([("grant_type", "urn:ietf:params:oauth:grant-type:device_code")], basic: web), "unsupported_grant_type"),
                    ("code grant not allowed", try await client.token([("grant_type", "authorization_code"), ("code", "x")], basic: web), "unauthorized_client"),
                    ("grant not allowed", try await client.token([("grant_type", "password")] + login, basic: ("service", cc)), "unauthorized_client"),
                    ("client_credentials not allowed", try await client.token([("grant_type", "client_credentials")], basic: web), "unauthorized_client"),
                    ("scope not allowed", try await client.token([("grant_type", "password"), ("scope", "openid admin")] + login, basic: web), "invalid_scope"),
                    ("malformed scope", try await client.token([("grant_type", "password"), ("scope", "open\"id")] + login, basic: web), "invalid_scope"),
                    ("missing username", try await client.token([("grant_type", "password"), ("password", "x")], basic: web), "invalid_request"),
                    ("missing password", try await client.token([("grant_type", "password"), ("username", "frank")], basic: web), "invalid_request"),
                    ("missing refresh_token", try await client.token([("grant_type", "refresh_token")], basic: web), "invalid_request"),
                    ("repeated parameter", try await client.token([("grant_type", "password"), ("grant_type", "password")] + login, basic: web), "invalid_request"),
                    ("garbage refresh token", try await client.refresh("not-a-token", client: "web", secret: secret), "invalid_grant"),
                ]
                for (name, response, code) in cases {
                    #expect(response.status == .badRequest, "\(name)")
                    #expect(try response.decode(ErrorBody.self).error == code, "\(name)")
                    #expect(response.headers[.cacheControl] == "no-store", "\(name)")
                }
                let wrongType = try await client.execute(
                    uri: "/oauth2/token", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "grant_type=password"))
                #expect(wrongType.status == .badRequest)
                #expect(try wrongType.decode(ErrorBody.self).error == "invalid_request")
                let badJSON = try await client.execute(
                    uri: "/oauth2/token", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{\"grant_type\":"))
                #expect(badJSON.status == .badRequest)
                let nonString = try await client.execute(
                    uri: "/oauth2/token", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"grant_type":1}"#))
                #expect(nonString.status == .badRequest)
            }
        }
    }

    @Test func clientCredentialsGrantIssuesAnAccessTokenForTheClientOnly() async throws {
        try await TestServices.with { t in
            let secret = try await t.client("reporting", grants: [.clientCredentials], scopes: ["reports.read"], audience: "https://api.example.com")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let response = try await client.token([("grant_type", "client_credentials")], basic: ("reporting", secret))
                #expect(response.status == .ok)
                let body = try response.decode(TokenBody.self)
                #expect(body.refresh_token == nil)
                let claims = try await verifyWithJWKS(body.access_token, jwks: try await client.jwks())
                #expect(claims.sub == "reporting")
                #expect(claims.client_id == "reporting")
                #expect(claims.aud.value == ["https://api.example.com"])
                #expect(claims.scope == "reports.read")
                #expect(claims.sid == nil)
                #expect(claims.roles.isEmpty)
            }
        }
    }

    @Test func passwordGrantWithoutRefreshGrantIssuesNoRefreshToken() async throws {
        try await TestServices.with { t in
            try await t.user("gina")
            let secret = try await t.client("cli", grants: [.password])
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let body = try await client.login("gina", client: "cli", secret: secret, scope: "openid")
                #expect(body.refresh_token == nil)
                #expect(body.scope == "openid")
            }
        }
    }
}
