import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

extension TestClientProtocol {
    func form(_ path: String, _ fields: [(String, String)], basic: (String, String?)? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let (id, secret) = basic { headers[.authorization] = Form.basic(id, secret ?? "") }
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: Form.encode(fields)))
    }

    func introspect(_ token: String, basic: (String, String?)) async throws -> [String: Any] {
        let response = try await form("/oauth2/introspect", [("token", token)], basic: basic)
        guard response.status == .ok else { throw UnexpectedResponse(response) }
        return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
    }
}

@Suite("Revocation and introspection", .timeLimit(.minutes(2)))
struct RevocationTests {
    @Test func revokingARefreshTokenEndsItsSessionAndItsAccessTokens() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            let secret = try await t.client("web")
            let login = try await t.login("alice", client: "web")
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                let revoke = try await client.form("/oauth2/revoke", [("token", login.refreshToken!), ("token_type_hint", "refresh_token")], basic: ("web", secret))
                #expect(revoke.status == .ok)
                #expect(revoke.body.readableBytes == 0)
                #expect(try await client.refresh(login.refreshToken!, client: "web", secret: secret).status == .badRequest)
                #expect(try await client.introspect(login.accessToken, basic: ("web", secret))["active"] as? Bool == false)
                let reasons: [String?] = try await t.database.column("SELECT revoked_reason FROM sessions")
                #expect(reasons == ["revoked_by_client"])
            }
        }
    }

    @Test func revokingAnAccessTokenListsItsJTIUntilItExpires() async throws {
        try await TestServices.with { t in
            try await t.user("bob")
            let secret = try await t.client("web")
            let login = try await t.login("bob", client: "web")
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                #expect(try await client.introspect(login.accessToken, basic: ("web", secret))["active"] as? Bool == true)
                let revoke = try await client.form("/oauth2/revoke", [("token", login.accessToken)], basic: ("web", secret))
                #expect(revoke.status == .ok)
                #expect(try await client.introspect(login.accessToken, basic: ("web", secret))["active"] as? Bool == false)
                #expect(try await client.refresh(login.refreshToken!, client: "web", secret: secret).status == .ok,
                        "revoking an access token leaves the session alone")
                let claims = try DecodedJWT(login.accessToken).claims
                let listed: [Double] = try await t.database.column(
                    "SELECT extract(epoch FROM expires_at)::float8 FROM revoked_tokens WHERE jti = \(claims["jti"] as! String)")
                #expect(listed == [Double(claims["exp"] as! Int)])
            }
        }
    }

    @Test func revocationAlwaysAnswers200ForAWellFormedRequest() async throws {
        try await TestServices.with { t in
            try await t.user("carol")
            let web = try await t.client("web")
            let other = try await t.client("other")
            let login = try await t.login("carol", client: "web")
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                #expect(try await client.form("/oauth2/revoke", [("token", "no-such-token")], basic: ("web", web)).status == .ok)
                #expect(try await client.form("/oauth2/revoke", [("token", login.refreshToken!)], basic: ("other", other)).status == .ok)
                #expect(try await client.refresh(login.refreshToken!, client: "web", secret: web).status == .ok,
                        "another client cannot revoke this client's tokens")
                let missing = try await client.form("/oauth2/revoke", [("token_type_hint", "access_token")], basic: ("web", web))
                #expect(missing.status == .badRequest)
                #expect(try missing.decode(ErrorBody.self).error == "invalid_request")
                let unauthenticated = try await client.form("/oauth2/revoke", [("token", "x")], basic: ("web", "wrong"))
                #expect(unauthenticated.status == .unauthorized)
            }
        }
    }

    @Test func introspectionDescribesLiveTokensAndOnlyThem() async throws {
        try await TestServices.with { t in
            let dave = try await t.user("dave", roles: ["user"])
            let secret = try await t.client("web")
            try await t.client("spa", method: .none)
            let login = try await t.login("dave", client: "web")
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                let active = try await client.introspect(login.accessToken, basic: ("web", secret))
                #expect(active["active"] as? Bool == true)
                #expect(active["sub"] as? String == dave.id.uuidString.lowercased())
                #expect(active["client_id"] as? String == "web")
                #expect(active["token_type"] as? String == "Bearer")
                #expect(active["scope"] as? String == "openid profile api")
                #expect(active["roles"] as? [String] == ["user"])
                for claim in ["exp", "iat", "nbf", "jti", "iss", "aud", "sid", "auth_time"] { #expect(active[claim] != nil, "\(claim)") }

                let refresh = try await client.introspect(login.refreshToken!, basic: ("web", secret))
                #expect(refresh["active"] as? Bool == true)
                #expect(refresh["token_type"] as? String == "refresh_token")
                _ = try await t.services.grants.refresh(
                    client: try #require(try await t.services.clients.store.find(clientID: "web")?.client),
                    refreshToken: login.refreshToken!, scope: nil, origin: RequestOrigin())
                #expect(try await client.introspect(login.refreshToken!, basic: ("web", secret)).keys.sorted() == ["active"],
                        "a spent refresh token is inactive and says nothing more")

                let publicClient = try await client.form("/oauth2/introspect", [("token", login.accessToken), ("client_id", "spa")])
                #expect(publicClient.status == .unauthorized)
            }
        }
    }

    /// Introspection answers a repeated question from its cache, but never past the token's `exp`
    /// and never after a revocation: one written here or, through the change feed, on another node.
    @Test func introspectionCacheNeverOutlivesTheTokenOrItsRevocation() async throws {
        try await TestServices.with { t in
            try await t.user("fay")
            let secret = try await t.client("web")
            let web = try #require(try await t.services.clients.store.find(clientID: "web")?.client)
            let introspection = t.services.introspection
            func object(_ bytes: [UInt8]) throws -> [String: Any] {
                try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            }
            let first = try await t.login("fay", client: "web")
            let answer = try await introspection.answer(token: first.accessToken, client: web)
            #expect(try object(answer)["active"] as? Bool == true)
            #expect(try await introspection.answer(token: first.accessToken, client: web) == answer)
            let exp = try #require(try object(answer)["exp"] as? Int)
            #expect(try object(try await introspection.answer(token: first.accessToken, client: web, now: exp - 1))["active"] as? Bool == true)
            #expect(try object(try await introspection.answer(token: first.accessToken, client: web, now: exp)).keys.sorted() == ["active"],
                    "inactive from its exp on, though cached and within the verifier's clock leeway")

            // Another node revokes: the row appears in PostgreSQL and the feed announces the table.
            let claims = try DecodedJWT(first.accessToken).claims
            _ = try await t.database.column(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES (\(claims["jti"] as! String), to_timestamp(\(exp))) RETURNING jti",
                as: String.self)
            #expect(try await introspection.answer(token: first.accessToken, client: web) == answer, "not announced yet")
            await t.database.changes.changed(.revokedTokens)
            #expect(try object(try await introspection.answer(token: first.accessToken, client: web))["active"] as? Bool == false)

            // Revoked here: the next answer over HTTP already says so.
            let second = try await t.login("fay", client: "web")
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                #expect(try await client.introspect(second.accessToken, basic: ("web", secret))["active"] as? Bool == true)
                #expect(try await client.introspect(second.accessToken, basic: ("web", secret))["active"] as? Bool == true)
                _ = try await client.form("/oauth2/revoke", [("token", second.refreshToken!)], basic: ("web", secret))
                #expect(try await client.introspect(second.accessToken, basic: ("web", secret))["active"] as? Bool == false)
            }
        }
    }

    /// Every way a token can be not quite ours (RFC 8725) must come back `active: false`.
    @Test func forgedExpiredAndMisTypedTokensAreInactive() async throws {
        try await TestServices.with { t in
            let erin = try await t.user("erin")
            let secret = try await t.client("web")
            let keySet = try await t.services.keys.keySet()
            let now = Int(Date().timeIntervalSince1970)
            func claims(iss: String = "http://localhost:8080", exp: Int = now + 300, nbf: Int = now) -> AccessTokenClaims {
                AccessTokenClaims(
                    iss: iss, sub: erin.id.uuidString.lowercased(), aud: ["x"], exp: exp, iat: now, nbf: nbf,
                    jti: UUID().uuidString, client_id: "web", scope: "openid", sid: nil, roles: [], auth_time: nil, sub_type: .user)
            }
            func sign(_ payload: AccessTokenClaims, typ: String? = "at+jwt") async throws -> String {
                var header = JWTHeader()
                header.typ = typ
                return try await keySet.collection.sign(payload, kid: JWKIdentifier(string: keySet.currentKid), header: header)
            }
            let genuine = try await sign(claims())
            let parts = genuine.split(separator: ".").map(String.init)
            func unsigned(_ header: String) -> String {
                Data(header.utf8).base64URLEncodedString() + "." + parts[1] + "."
            }
            let publicJWK = String(decoding: keySet.jwks, as: UTF8.self)
            let hmacHeader = Data(#"{"alg":"HS256","typ":"at+jwt","kid":"\#(keySet.currentKid)"}"#.utf8).base64URLEncodedString()
            let hmacInput = hmacHeader + "." + parts[1]
            let hmac = Data(HMAC<SHA256>.authenticationCode(for: Data(hmacInput.utf8), using: SymmetricKey(data: Data(publicJWK.utf8))))
            let cases: [(String, String)] = [
                ("expired", try await sign(claims(exp: now - 120))),
                ("not yet valid", try await sign(claims(nbf: now + 3600))),
                ("foreign issuer", try await sign(claims(iss: "https://evil.example"))),
                ("typ JWT", try await sign(claims(), typ: "JWT")),
                ("no typ", try await sign(claims(), typ: nil)),
                ("alg none", unsigned(#"{"alg":"none","typ":"at+jwt","kid":"\#(keySet.currentKid)"}"#)),
                ("HS256 with the public key", hmacInput + "." + hmac.base64URLEncodedString()),
                ("unknown kid", Data(#"{"alg":"ES256","typ":"at+jwt","kid":"nope"}"#.utf8).base64URLEncodedString() + "." + parts[1] + "." + parts[2]),
                ("bad signature", parts[0] + "." + parts[1] + "." + String(parts[2].reversed())),
                ("malformed", "not.a.jwt"),
                ("oversized", String(repeating: "a", count: 9000) + "." + parts[1] + "." + parts[2]),
            ]
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                #expect(try await client.introspect(genuine, basic: ("web", secret))["active"] as? Bool == true)
                for (name, token) in cases {
                    let result = try await client.introspect(token, basic: ("web", secret))
                    #expect(result.keys.sorted() == ["active"] && result["active"] as? Bool == false, "\(name)")
                }
            }
        }
    }

    @Test func userinfoAnswersForLiveUserTokensOnly() async throws {
        try await TestServices.with { t in
            let fay = try await t.user("fay", roles: ["user"])
            _ = try await t.services.environment.users.update(id: fay.id, .init(), origin: RequestOrigin())
            try await t.client("web", scopes: ["openid", "profile", "email", "api"])
            let machine = try await t.client("machine", grants: [.clientCredentials], scopes: ["api"])
            let login = try await t.login("fay", client: "web")
            let noOpenID = try await t.login("fay", client: "web", scope: "api")
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                let ok = try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer \(login.accessToken)"])
                #expect(ok.status == .ok)
                let claims = try JSONSerialization.jsonObject(with: Data(buffer: ok.body)) as? [String: Any]
                #expect(claims?["sub"] as? String == fay.id.uuidString.lowercased())
                #expect(claims?["preferred_username"] as? String == "fay")
                #expect(claims?["roles"] as? [String] == ["user"])

                let none = try await client.execute(uri: "/userinfo", method: .get)
                #expect(none.status == .unauthorized)
                #expect(none.headers[.wwwAuthenticate] == #"Bearer realm="signet""#)

                let bogus = try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer abc.def.ghi"])
                #expect(bogus.status == .unauthorized)
                #expect(bogus.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)

                let scopeless = try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer \(noOpenID.accessToken)"])
                #expect(scopeless.status == .forbidden)
                #expect(scopeless.headers[.wwwAuthenticate]?.contains("insufficient_scope") == true)

                let machineToken = try await client.token([("grant_type", "client_credentials")], basic: ("machine", machine)).decode(TokenBody.self)
                let forMachine = try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer \(machineToken.access_token)"])
                #expect(forMachine.status == .unauthorized)

                _ = try await t.services.environment.users.update(id: fay.id, .init(disabled: true), origin: RequestOrigin())
                let disabled = try await client.execute(uri: "/userinfo", method: .post, headers: [.authorization: "Bearer \(login.accessToken)"])
                #expect(disabled.status == .unauthorized, "disabling a user ends its access tokens at once")
            }
        }
    }
}
