import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

/// Browser sign-in (OpenID Connect authorization code + PKCE) through the public router against
/// the real PostgreSQL: the pages, their protections, codes, ID tokens, single sign-on, consent
/// and logout, as an application and a browser see them.
@Suite("Browser sign-in", .timeLimit(.minutes(2)))
struct BrowserSignInTests {
    static let issuer = "http://localhost:8080"
    static let callback = "https://app.example/callback"

    /// Signs `user` in through the login page and returns the redirect back to the application.
    static func signIn(
        _ browser: TestBrowser, _ query: [(String, String)], user: String = "alice", password: String = "correct horse battery"
    ) async throws -> TestResponse {
        let page = try await browser.get("/oauth2/authorize", query)
        guard page.isLoginPage else { throw UnexpectedResponse(page) }
        return try await browser.submit(page, [("username", user), ("password", password)])
    }

    static func exchange(
        _ client: some TestClientProtocol, code: String, pkce: PKCEPair?, clientID: String = "web", secret: String?,
        redirect: String = callback
    ) async throws -> TestResponse {
        var fields = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect)]
        if let pkce { fields.append(("code_verifier", pkce.verifier)) }
        if secret == nil { fields.append(("client_id", clientID)) }
        return try await client.token(fields, basic: secret.map { (clientID, $0) })
    }

    @Test func theCodeFlowSignsInAndIssuesAnIDTokenWithEveryClaim() async throws {
        try await TestServices.with { t in
            let alice = try await t.services.environment.users.create(.init(username: "alice", password: "correct horse battery", email: "alice@example.com"))
            let secret = try await t.codeClient("web")
            let app = try await buildApplication(reader: t.reader)
            let started = Int(Date().timeIntervalSince1970)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let pkce = PKCEPair()
                let page = try await browser.get("/oauth2/authorize", authorizationRequest("web", pkce: pkce))
                #expect(page.isLoginPage)
                #expect(page.html.contains(#"<form method="post""#) && page.html.contains(#"autocomplete="username""#)
                    && page.html.contains(#"autocomplete="current-password""#))
                #expect(page.html.matches(of: /type="submit"/).count == 1)
                for (name, value) in [
                    ("X-Frame-Options", "DENY"), ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
                    ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                ] {
                    #expect(page.headers[HTTPField.Name(name)!] == value, "\(name)")
                }
                #expect(!page.html.contains("<script"), "no script at all, inline or not")

                let wrong = try await browser.submit(page, [("username", "alice"), ("password", "not the password")])
                let unknown = try await browser.submit(page, [("username", "nobody"), ("password", "correct horse battery")])
                #expect(wrong.isLoginPage && wrong.alert == "Invalid username or password.")
                #expect(unknown.alert == wrong.alert, "an unknown user reads like a wrong password")
                #expect(browser.cookies["signet_session"] == nil)

                let back = try await browser.submit(page, [("username", "alice"), ("password", "correct horse battery")])
                #expect(back.status == .seeOther)
                #expect(back.headers[.location]?.hasPrefix(Self.callback + "?code=") == true)
                let answer = back.redirectQuery
                #expect(answer["state"] == "xyz" && answer["iss"] == Self.issuer)
                let code = try #require(answer["code"])
                #expect(code.count >= 43, "at least 256 bits")

                let exchanged = try await Self.exchange(client, code: code, pkce: pkce, secret: secret)
                #expect(exchanged.status == .ok, "\(exchanged.html)")
                #expect(exchanged.headers[.cacheControl] == "no-store")
                let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: exchanged.body)) as? [String: Any])
                let accessToken = try #require(body["access_token"] as? String)
                let idToken = try #require(body["id_token"] as? String)
                #expect(body["refresh_token"] is String && body["token_type"] as? String == "Bearer")

                // The ID token, checked the way a relying party does: with the published JWKS.
                let jwks = try await client.jwks()
                let keys = try await JWTKeyCollection().add(jwksJSON: jwks)
                let claims = try await keys.verify(idToken, as: IDTokenClaims.self)
                let header = try DecodedJWT(idToken).header
                #expect(header["alg"] as? String == "RS256" && header["typ"] as? String == "JWT")
                #expect(jwks.contains(header["kid"] as? String ?? "-"))
                #expect(claims.iss == Self.issuer && claims.aud == "web" && claims.azp == "web")
                #expect(claims.sub == alice.id.uuidString.lowercased())
                #expect(claims.nonce == "n-0S6_WzA2Mj" && claims.amr == ["pwd"] && claims.acr == "1")
                #expect(claims.at_hash == IDTokenClaims.accessTokenHash(accessToken))
                // auth_time is the sign-in's time: during this test, and no later than the token.
                #expect(claims.exp > claims.iat && claims.auth_time >= started && claims.auth_time <= claims.iat)
                #expect(claims.email == "alice@example.com" && claims.email_verified == false && claims.preferred_username == "alice")
                let access = try await verifyWithJWKS(accessToken, jwks: jwks)
                #expect(access.sub == claims.sub && access.sid == claims.sid, "the access token names the same user and browser session")

                let userinfo = try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer \(accessToken)"])
                #expect(userinfo.status == .ok && userinfo.html.contains(claims.sub))
                #expect(userinfo.html.contains(#""email_verified":false"#), "as in the ID token")

                let events: [String] = try await t.database.column(
                    "SELECT type || coalesce(':' || (detail->>'flow'), '') FROM audit_events ORDER BY id")
                #expect(events.contains("login_succeeded:browser") && events.contains("login_failed:browser") && events.contains("code_issued"))
            }
        }
    }

    @Test func aWrongClientOrRedirectURIIsAPageNeverARedirect() async throws {
        try await TestServices.with { t in
            try await t.codeClient("web")
            try await t.client("pw-only")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let cases: [(String, [(String, String)])] = [
                    ("unknown client", authorizationRequest("nobody")),
                    ("client without the code grant", authorizationRequest("pw-only")),
                    ("unregistered redirect_uri", authorizationRequest("web", redirect: "https://evil.example/callback")),
                    ("redirect_uri differing by a slash", authorizationRequest("web", redirect: Self.callback + "/")),
                    ("no redirect_uri", authorizationRequest("web").filter { $0.0 != "redirect_uri" }),
                    ("no client_id", authorizationRequest("web").filter { $0.0 != "client_id" }),
                ]
                for (name, query) in cases {
                    let response = try await browser.get("/oauth2/authorize", query)
                    #expect(response.status == .badRequest, "\(name)")
                    #expect(response.headers[.location] == nil, "\(name)")
                    #expect(response.headers[.contentType]?.hasPrefix("text/html") == true && response.alert != nil, "\(name)")
                }
            }
        }
    }

    @Test func requestErrorsGoBackToTheApplicationWithStateAndIssuer() async throws {
        try await TestServices.with { t in
            try await t.codeClient("web")
            try await t.codeClient("spa", method: .none)
            try await t.codeClient("legacy", requirePKCE: false)
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let pkce = PKCEPair()
                let cases: [(String, [(String, String)], String)] = [
                    ("response_type token", authorizationRequest("web").map { $0.0 == "response_type" ? ($0.0, "token") : $0 }, "unsupported_response_type"),
                    ("no response_type", authorizationRequest("web").filter { $0.0 != "response_type" }, "invalid_request"),
                    ("scope not allowed", authorizationRequest("web", scope: "openid admin"), "invalid_scope"),
                    ("request object", authorizationRequest("web", extra: [("request", "eyJ.e30.")]), "request_not_supported"),
                    ("request_uri", authorizationRequest("web", extra: [("request_uri", "https://app.example/r")]), "request_uri_not_supported"),
                    ("plain PKCE", authorizationRequest("web", pkce: nil, extra: [("code_challenge", pkce.verifier), ("code_challenge_method", "plain")]), "invalid_request"),
                    ("challenge without method (plain)", authorizationRequest("web", pkce: nil, extra: [("code_challenge", pkce.challenge)]), "invalid_request"),
                    ("public client without PKCE", authorizationRequest("spa", pkce: nil), "invalid_request"),
                    ("confidential client without PKCE", authorizationRequest("web", pkce: nil), "invalid_request"),
                    ("prompt=none without a session", authorizationRequest("web", extra: [("prompt", "none")]), "login_required"),
                    ("prompt=none with login", authorizationRequest("web", extra: [("prompt", "none login")]), "invalid_request"),
                    ("negative max_age", authorizationRequest("web", extra: [("max_age", "-1")]), "invalid_request"),
                    ("forged id_token_hint", authorizationRequest("web", extra: [("id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")]), "invalid_request"),
                ]
                for (name, query, error) in cases {
                    let response = try await browser.get("/oauth2/authorize", query)
                    #expect(response.status == .found, "\(name): \(response.status)")
                    let answer = response.redirectQuery
                    #expect(response.headers[.location]?.hasPrefix(Self.callback + "?") == true, "\(name)")
                    #expect(answer["error"] == error, "\(name): \(answer)")
                    #expect(answer["state"] == "xyz" && answer["iss"] == Self.issuer && answer["error_description"] != nil, "\(name)")
                    #expect(answer["code"] == nil, "\(name)")
                }
                // accepted without error: display, ui_locales, claims_locales, acr_values, login_hint
                let accepted = try await browser.get("/oauth2/authorize", authorizationRequest("legacy", pkce: nil, extra: [
                    ("display", "page"), ("ui_locales", "de en"), ("claims_locales", "de"), ("acr_values", "1"), ("login_hint", "alice"),
                ]))
                #expect(accepted.isLoginPage, "\(accepted.status)")
                #expect(accepted.html.contains(#"value="alice""#), "the login hint fills in the username")
            }
        }
    }

    @Test func aCodeWorksOnceAndItsReuseRevokesWhatItIssued() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            let secret = try await t.codeClient("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let pkce = PKCEPair()
                let code = try #require(try await Self.signIn(browser, authorizationRequest("web", pkce: pkce)).redirectQuery["code"])
                let first = try await Self.exchange(client, code: code, pkce: pkce, secret: secret)
                let tokens = try first.decode(TokenBody.self)
                let second = try await Self.exchange(client, code: code, pkce: pkce, secret: secret)
                #expect(try second.status == .badRequest && second.decode(ErrorBody.self).error == "invalid_grant")
                let refresh = try await client.refresh(try #require(tokens.refresh_token), client: "web", secret: secret)
                #expect(refresh.status == .badRequest, "the refresh family of the first exchange is revoked")
                let userinfo = try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer \(tokens.access_token)"])
                #expect(userinfo.status == .unauthorized, "and its access token too")
                let reused: [String] = try await t.database.column("SELECT type FROM audit_events WHERE type = 'code_reused'")
                #expect(reused.count == 1)
            }
        }
    }

    @Test func revokingASignInsRefreshTokenEndsItsAccessTokensAndIsListed() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            let secret = try await t.codeClient("web")
            try await t.codeClient("other", redirect: "https://other.example/cb")
            let admin = try await t.adminToken()
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let pkce = PKCEPair()
                let code = try #require(try await Self.signIn(browser, authorizationRequest("web", pkce: pkce)).redirectQuery["code"])
                let tokens = try (try await Self.exchange(client, code: code, pkce: pkce, secret: secret)).decode(TokenBody.self)
                func live(_ token: String) async throws -> Bool {
                    try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer \(token)"]).status == .ok
                }
                #expect(try await live(tokens.access_token))
                let revocation = try await client.execute(
                    uri: "/oauth2/revoke", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded", .authorization: Form.basic("web", secret ?? "")],
                    body: ByteBuffer(string: Form.encode([("token", try #require(tokens.refresh_token))])))
                #expect(revocation.status == .ok)
                #expect(try await !live(tokens.access_token), "RFC 7009: the access tokens of the revoked refresh family end too")
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("other", redirect: "https://other.example/cb")).status == .found,
                        "the browser session itself lives on")

                // Logout ends the browser session; the admin revocation list names it (the tokens' sid).
                let sid = try #require(try DecodedJWT(tokens.access_token).claims["sid"] as? String)
                _ = try await browser.get("/oauth2/logout", [("id_token_hint", "x")])
                let page = try await browser.get("/oauth2/logout")
                _ = try await browser.submit(page, to: "/oauth2/logout", [("decision", "logout")])
                try await Application(router: try buildAdminRouter(t.services)).test(.router) { adminClient in
                    let list = try await adminClient.execute(uri: "/admin/revocations", method: .get, headers: [.authorization: "Bearer \(admin)"])
                    #expect(list.html.contains(sid) && list.html.contains(#""reason":"logout""#), "\(list.html)")
                }
            }
        }
    }

    @Test func sixteenParallelExchangesOfOneCodeGiveExactlyOneSuccess() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            let secret = try await t.codeClient("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let pkce = PKCEPair()
                let code = try #require(try await Self.signIn(browser, authorizationRequest("web", pkce: pkce)).redirectQuery["code"])
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<16 { group.addTask { try await Self.exchange(client, code: code, pkce: pkce, secret: secret).status } }
                    return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == .ok }.count == 1, "\(statuses)")
                #expect(statuses.filter { $0 == .badRequest }.count == 15, "\(statuses)")
                let families: [Int] = try await t.database.column("SELECT count(*)::int FROM sessions")
                #expect(families == [1], "one refresh family, never two")
            }
        }
    }

    @Test func theExchangeChecksVerifierRedirectClientAndLifetime() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            let secret = try await t.codeClient("web")
            let other = try await t.codeClient("other")
            let legacy = try await t.codeClient("legacy", requirePKCE: false)
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                func code(_ clientID: String = "web", pkce: PKCEPair? = PKCEPair()) async throws -> String {
                    let response = try await browser.get("/oauth2/authorize", authorizationRequest(clientID, pkce: pkce))
                    if response.isLoginPage {
                        return try #require(try await browser.submit(response, [("username", "alice"), ("password", "correct horse battery")]).redirectQuery["code"])
                    }
                    return try #require(response.redirectQuery["code"])
                }
                let pkce = PKCEPair()
                func refused(_ response: TestResponse, _ name: String) throws {
                    #expect(try response.status == .badRequest && response.decode(ErrorBody.self).error == "invalid_grant", "\(name): \(response.html)")
                }
                try refused(try await Self.exchange(client, code: try await code(pkce: pkce), pkce: PKCEPair(), secret: secret), "wrong verifier")
                try refused(try await Self.exchange(client, code: try await code(pkce: pkce), pkce: nil, secret: secret), "no verifier")
                try refused(try await Self.exchange(client, code: try await code("legacy", pkce: nil), pkce: pkce, clientID: "legacy", secret: legacy),
                            "a verifier for a code issued without a challenge (downgrade)")
                try refused(try await Self.exchange(client, code: try await code(pkce: pkce), pkce: pkce, secret: secret, redirect: "https://app.example/other"),
                            "another redirect_uri")
                try refused(try await Self.exchange(client, code: try await code(pkce: pkce), pkce: pkce, clientID: "other", secret: other),
                            "another client")
                try refused(try await Self.exchange(client, code: "not-a-code", pkce: pkce, secret: secret), "garbage")
                let late = try await code(pkce: pkce)
                try await t.database.query("UPDATE authorization_codes SET expires_at = created_at - interval '1 second'", logger: t.database.logger)
                try refused(try await Self.exchange(client, code: late, pkce: pkce, secret: secret), "expired")
                let legacyCode = try await code("legacy", pkce: nil)
                #expect(try await Self.exchange(client, code: legacyCode, pkce: nil, clientID: "legacy", secret: legacy).status == .ok,
                        "a client registered without PKCE may go without")
                let stored: [Int] = try await t.database.column(
                    "SELECT count(*)::int FROM authorization_codes WHERE octet_length(code_hash) = 32")
                #expect(stored.first ?? 0 >= 7, "codes are stored as 32-byte hashes only")
            }
        }
    }

    @Test func singleSignOnPromptMaxAgeAndIDTokenHint() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            try await t.user("bob")
            let secret = try await t.codeClient("web")
            try await t.codeClient("other", redirect: "https://other.example/cb")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let pkce = PKCEPair()
                let code = try #require(try await Self.signIn(browser, authorizationRequest("web", pkce: pkce)).redirectQuery["code"])
                let tokens = try await Self.exchange(client, code: code, pkce: pkce, secret: secret)
                let idToken = try #require((try JSONSerialization.jsonObject(with: Data(buffer: tokens.body)) as? [String: Any])?["id_token"] as? String)

                let other = try await browser.get("/oauth2/authorize", authorizationRequest("other", redirect: "https://other.example/cb"))
                #expect(other.status == .found && other.redirectQuery["code"] != nil, "a second application signs in without a page")
                let silent = try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("prompt", "none")]))
                #expect(silent.redirectQuery["code"] != nil)
                let hinted = try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("prompt", "none"), ("id_token_hint", idToken)]))
                #expect(hinted.redirectQuery["code"] != nil, "the hint names the signed-in user")
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("prompt", "login")])).isLoginPage)
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("max_age", "0")])).isLoginPage)
                try await Task.sleep(for: .seconds(1.1))
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("max_age", "1")])).isLoginPage)
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("max_age", "3600")])).status == .found)

                // prompt=login: the fresh sign-in satisfies it (no loop), and the session is new.
                let before = browser.cookies["signet_session"]
                let again = try await Self.signIn(browser, authorizationRequest("web", extra: [("prompt", "login")]))
                #expect(again.redirectQuery["code"] != nil)
                #expect(browser.cookies["signet_session"] != before, "every sign-in gets a new session id")
                let live: [Int] = try await t.database.column("SELECT count(*)::int FROM browser_sessions WHERE revoked_at IS NULL")
                #expect(live == [1], "the old session of this browser ended")

                // Someone else signs in in this browser: a hint for alice no longer matches.
                _ = try await Self.signIn(browser, authorizationRequest("web", extra: [("prompt", "login")]), user: "bob")
                let mismatch = try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("prompt", "none"), ("id_token_hint", idToken)]))
                #expect(mismatch.redirectQuery["error"] == "login_required")
            }
        }
    }

    @Test func consentIsAskedRememberedPerScopeSetAndWithdrawable() async throws {
        try await TestServices.with { t in
            let alice = try await t.user("alice")
            let secret = try await t.codeClient("third", name: "<script>alert(1)</script>", skipConsent: false)
            let admin = try await t.adminToken()
            let app = try await buildApplication(reader: t.reader)
            let adminApp = Application(router: try buildAdminRouter(t.services))
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let consent = try await Self.signIn(browser, authorizationRequest("third", scope: "openid profile"))
                #expect(consent.isConsentPage)
                #expect(consent.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !consent.html.contains("<script>"),
                        "the client's name is shown as text")
                #expect(consent.html.contains("openid") && consent.html.contains("profile"))
                let denied = try await browser.submit(consent, [("decision", "deny")])
                #expect(denied.status == .seeOther && denied.redirectQuery["error"] == "access_denied")
                #expect(denied.redirectQuery["state"] == "xyz" && denied.redirectQuery["iss"] == Self.issuer)

                let asked = try await browser.get("/oauth2/authorize", authorizationRequest("third", scope: "openid profile"))
                #expect(asked.isConsentPage, "a denial is not remembered")
                let allowed = try await browser.submit(asked, [("decision", "allow")])
                #expect(allowed.redirectQuery["code"] != nil)
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("third", scope: "openid")).status == .found,
                        "a request within the granted scopes asks nothing")
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("third", scope: "openid email")).isConsentPage,
                        "a new scope asks again")
                let forced = try await browser.get("/oauth2/authorize", authorizationRequest("third", scope: "openid", extra: [("prompt", "consent")]))
                #expect(forced.isConsentPage)
                #expect(try await browser.submit(forced, [("decision", "allow")]).redirectQuery["code"] != nil, "prompt=consent is satisfied by the answer")
                let silent = try await browser.get("/oauth2/authorize", authorizationRequest("third", scope: "openid email", extra: [("prompt", "none")]))
                #expect(silent.redirectQuery["error"] == "consent_required")
                let types: [String] = try await t.database.column("SELECT type FROM audit_events WHERE type LIKE 'consent%' ORDER BY id")
                #expect(types == ["consent_denied", "consent_granted", "consent_granted"])

                // A refresh family of this client, then the admin withdraws the consent.
                let pkce = PKCEPair()
                let code = try #require(try await browser.get("/oauth2/authorize", authorizationRequest("third", pkce: pkce, scope: "openid")).redirectQuery["code"])
                let tokens = try (try await Self.exchange(client, code: code, pkce: pkce, clientID: "third", secret: secret)).decode(TokenBody.self)
                try await adminApp.test(.router) { adminClient in
                    let user = alice.id.uuidString.lowercased()
                    let listed = try await adminClient.execute(uri: "/admin/users/\(user)/consents", method: .get, headers: [.authorization: "Bearer \(admin)"])
                    #expect(listed.status == .ok && listed.html.contains(#""client_id":"third""#) && listed.html.contains("openid profile"), "\(listed.html)")
                    let withdrawn = try await adminClient.execute(uri: "/admin/users/\(user)/consents/third", method: .delete, headers: [.authorization: "Bearer \(admin)"])
                    #expect(withdrawn.status == .noContent)
                    let again = try await adminClient.execute(uri: "/admin/users/\(user)/consents/third", method: .delete, headers: [.authorization: "Bearer \(admin)"])
                    #expect(again.status == .notFound)
                }
                #expect(try await client.refresh(try #require(tokens.refresh_token), client: "third", secret: secret).status == .badRequest,
                        "withdrawing consent ends the client's refresh families")
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("third", scope: "openid")).isConsentPage)
            }
        }
    }

    @Test func formsWithoutTheirCSRFTokenOrFromAnotherSiteAreRefused() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            try await t.codeClient("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let page = try await browser.get("/oauth2/authorize", authorizationRequest("web"))
                let fields = TestBrowser.hiddenFields(page) + [("username", "alice"), ("password", "correct horse battery")]
                let noToken = try await browser.post("/oauth2/authorize", fields.filter { $0.0 != "csrf_token" })
                let wrongToken = try await browser.post("/oauth2/authorize", fields.map { $0.0 == "csrf_token" ? ($0.0, "AAAA") : $0 })
                let otherSite = try await browser.post("/oauth2/authorize", fields, origin: "https://evil.example")
                let flow = try #require(browser.cookies["signet_flow"])
                browser.forget("signet_flow")
                let noCookie = try await browser.post("/oauth2/authorize", fields)
                for (name, response) in [("no token", noToken), ("wrong token", wrongToken), ("other origin", otherSite), ("no flow cookie", noCookie)] {
                    #expect(response.status == .forbidden, "\(name)")
                    #expect(response.headers[.location] == nil && response.headers[.setCookie]?.contains("signet_session") != true, "\(name)")
                }
                #expect(try await t.database.column("SELECT count(*)::int FROM browser_sessions") == [0], "no sign-in happened")
                browser.set("signet_flow", flow)
                // Same-origin posts from a no-referrer page carry `Origin: null`.
                let fromPage = try await browser.post("/oauth2/authorize", fields, origin: "null")
                #expect(fromPage.status == .seeOther && fromPage.redirectQuery["code"] != nil)
            }
        }
    }

    @Test func sessionCookieAttributesFollowTheIssuer() async throws {
        for (issuer, secure) in [("http://localhost:8080", false), ("https://idp.example", true)] {
            try await TestServices.with(overrides: ["issuer": .init(.string(issuer), isSecret: false)]) { t in
                try await t.user("alice")
                try await t.codeClient("web")
                let app = try await buildApplication(reader: t.reader)
                try await app.test(.router) { client in
                    let browser = TestBrowser(client, origin: issuer)
                    let back = try await Self.signIn(browser, authorizationRequest("web"))
                    let cookie = try #require(back.headers[values: .setCookie].first { $0.hasPrefix("signet_session=") })
                    let attributes = Set(cookie.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) })
                    #expect(attributes.contains("HttpOnly") && attributes.contains("SameSite=Lax") && attributes.contains("Path=/"), "\(cookie)")
                    #expect(attributes.contains("Secure") == secure, "\(cookie)")
                    let value = try #require(browser.cookies["signet_session"])
                    let stored: [Int] = try await t.database.column(
                        "SELECT count(*)::int FROM browser_sessions WHERE secret_hash = sha256(\(value)::bytea)")
                    #expect(stored == [1], "only the hash of the cookie is kept")
                    let clear: [Int] = try await t.database.column(
                        "SELECT count(*)::int FROM browser_sessions WHERE position(\(value)::bytea in secret_hash) > 0")
                    #expect(clear == [0])
                }
            }
        }
    }

    @Test func browserSessionsEndWithIdlenessAgeAndEveryUserCutOff() async throws {
        try await TestServices.with { t in
            let alice = try await t.user("alice")
            try await t.codeClient("web")
            let admin = try await t.adminToken()
            let app = try await buildApplication(reader: t.reader)
            let adminApp = Application(router: try buildAdminRouter(t.services))
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                func signedIn() async throws -> Bool {
                    try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("prompt", "none")])).redirectQuery["code"] != nil
                }
                _ = try await Self.signIn(browser, authorizationRequest("web"))
                #expect(try await signedIn())
                try await t.database.query("UPDATE browser_sessions SET last_seen_at = now() - interval '2 hours'", logger: t.database.logger)
                #expect(try await !signedIn(), "idle longer than browser_session.idle_lifetime_seconds")
                _ = try await Self.signIn(browser, authorizationRequest("web"))
                try await t.database.query("UPDATE browser_sessions SET expires_at = now() - interval '1 second' WHERE revoked_at IS NULL", logger: t.database.logger)
                #expect(try await !signedIn(), "past its absolute lifetime")

                let user = alice.id.uuidString.lowercased()
                let cutOffs: [(String, @Sendable (any TestClientProtocol) async throws -> Void)] = [
                    ("password change", { c in _ = try await c.execute(uri: "/admin/users/\(user)", method: .patch, headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"], body: ByteBuffer(string: #"{"password":"another long password"}"#)) }),
                    ("disabling", { c in
                        _ = try await c.execute(uri: "/admin/users/\(user)", method: .patch, headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"], body: ByteBuffer(string: #"{"disabled":true}"#))
                        _ = try await c.execute(uri: "/admin/users/\(user)", method: .patch, headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"], body: ByteBuffer(string: #"{"disabled":false}"#))
                    }),
                    ("user revocation", { c in _ = try await c.execute(uri: "/admin/revocations", method: .post, headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"], body: ByteBuffer(string: #"{"user_id":"\#(user)"}"#)) }),
                ]
                var password = "correct horse battery"
                for (name, cutOff) in cutOffs {
                    _ = try await Self.signIn(browser, authorizationRequest("web"), password: password)
                    #expect(try await signedIn(), "\(name)")
                    try await adminApp.test(.router) { try await cutOff($0) }
                    #expect(try await !signedIn(), "\(name) ends browser sessions")
                    if name == "password change" { password = "another long password" }
                }

                _ = try await Self.signIn(browser, authorizationRequest("web"), password: password)
                try await adminApp.test(.router) { c in
                    let listed = try await c.execute(uri: "/admin/users/\(user)/sessions", method: .get, headers: [.authorization: "Bearer \(admin)"])
                    let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: listed.body)) as? [String: Any])
                    let browsers = try #require(body["browser_sessions"] as? [[String: Any]])
                    #expect(browsers.count == 1 && (browsers.first?["amr"] as? [String]) == ["pwd"])
                    let sid = try #require(browsers.first?["id"] as? String)
                    let revoked = try await c.execute(uri: "/admin/revocations", method: .post, headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"], body: ByteBuffer(string: #"{"session_id":"\#(sid)"}"#))
                    #expect(revoked.status == .created)
                }
                #expect(try await !signedIn(), "an admin ends one browser session")
            }
        }
    }

    @Test func logoutWithAHintRedirectsAndWithoutOneAsksFirst() async throws {
        try await TestServices.with { t in
            let alice = try await t.user("alice")
            let secret = try await t.codeClient("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                func signedIn() async throws -> Bool {
                    try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("prompt", "none")])).redirectQuery["code"] != nil
                }
                let pkce = PKCEPair()
                let code = try #require(try await Self.signIn(browser, authorizationRequest("web", pkce: pkce)).redirectQuery["code"])
                let exchanged = try await Self.exchange(client, code: code, pkce: pkce, secret: secret)
                let tokens = try exchanged.decode(TokenBody.self)
                let idToken = try #require((try JSONSerialization.jsonObject(with: Data(buffer: exchanged.body)) as? [String: Any])?["id_token"] as? String)

                let unregistered = try await browser.get("/oauth2/logout", [("id_token_hint", idToken), ("post_logout_redirect_uri", "https://evil.example/")])
                #expect(unregistered.status == .badRequest && unregistered.headers[.location] == nil)
                #expect(try await signedIn(), "a refused logout ends nothing")

                let out = try await browser.get("/oauth2/logout", [
                    ("id_token_hint", idToken), ("post_logout_redirect_uri", "https://app.example/bye"), ("state", "s1"),
                ])
                #expect(out.status == .found && out.headers[.location] == "https://app.example/bye?state=s1")
                #expect(try await !signedIn())
                #expect(try await client.refresh(try #require(tokens.refresh_token), client: "web", secret: secret).status == .badRequest,
                        "the refresh family of the browser session ends with it")
                let userinfo = try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer \(tokens.access_token)"])
                #expect(userinfo.status == .unauthorized, "and so do its access tokens")

                // An expired hint is fine; one with alg none or a foreign signature is not valid (the user is asked).
                _ = try await Self.signIn(browser, authorizationRequest("web"))
                let issuer = TokenIssuer(keys: t.services.keys, settings: t.settings)
                let client = try #require(try await t.services.clients.find(clientID: "web"))
                let sid = try #require(try await t.database.column("SELECT id FROM browser_sessions WHERE revoked_at IS NULL", as: UUID.self).first)
                let expired = try await issuer.idToken(
                    user: alice, client: client, scopes: ["openid"], nonce: nil, accessToken: "x", sessionID: sid, authTime: Date(),
                    amr: ["pwd"], acr: "1", issuedAt: Date().addingTimeInterval(-7200))
                let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + idToken.split(separator: ".")[1] + "."
                let confirm = try await browser.get("/oauth2/logout", [("id_token_hint", unsigned), ("post_logout_redirect_uri", "https://app.example/bye")])
                #expect(confirm.status == .ok && confirm.html.contains(#"name="decision" value="logout""#))
                #expect(try await signedIn(), "nothing ends before the user confirms")
                let expiredOut = try await browser.get("/oauth2/logout", [("id_token_hint", expired)])
                #expect(expiredOut.status == .ok && expiredOut.html.contains("signed out"))
                #expect(try await !signedIn())

                _ = try await Self.signIn(browser, authorizationRequest("web"))
                let page = try await browser.get("/oauth2/logout")
                #expect(page.html.contains(#"name="decision" value="logout""#))
                let forged = try await browser.post("/oauth2/logout", [("decision", "logout")])
                #expect(forged.status == .forbidden)
                #expect(try await signedIn(), "the confirmation needs its CSRF token")
                let confirmed = try await browser.submit(page, to: "/oauth2/logout", [("decision", "logout")])
                #expect(confirmed.status == .ok && confirmed.html.contains("signed out"))
                #expect(try await !signedIn())
                let logouts: [Int] = try await t.database.column("SELECT count(*)::int FROM audit_events WHERE type = 'logout'")
                #expect(logouts == [3])
            }
        }
    }

    @Test func signInKeepsThePasswordGrantsProtections() async throws {
        try await TestServices.with(overrides: ["rate_limit.failed_login_burst": 3, "rate_limit.burst": 1000]) { t in
            try await t.user("alice")
            try await t.codeClient("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let page = try await browser.get("/oauth2/authorize", authorizationRequest("web"))
                var statuses: [HTTPResponse.Status] = []
                for _ in 0..<5 {
                    statuses.append(try await browser.submit(page, [("username", "alice"), ("password", "wrong password here")]).status)
                }
                #expect(statuses.prefix(3).allSatisfy { $0 == .ok })
                let limited = try await browser.submit(page, [("username", "alice"), ("password", "correct horse battery")])
                #expect(limited.status == .tooManyRequests && limited.headers[.retryAfter] != nil && limited.alert != nil)
                #expect(limited.headers[.contentType]?.hasPrefix("text/html") == true)
            }
        }
    }

    @Test func aFullHashingQueueAnswersTheLoginPageWith503AndRetryAfter() async throws {
        try await TestServices.with(overrides: [
            "argon2.memory_kib": 65_536, "argon2.iterations": 4, "argon2.threads": 1, "argon2.queue_limit": 1,
            "rate_limit.burst": 10_000, "rate_limit.failed_login_burst": 10_000,
        ]) { t in
            for index in 0..<4 { try await t.user("user-\(index)") }
            let app = Application(router: try buildPublicRouter(t.services), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            // A client that follows redirects and sends requests at once; the application's
            // redirect URI is this server's /healthz, so a sign-in ends there with 200.
            try await app.test(.ahc()) { client in
                let port = try #require(client.port)
                let callback = "http://127.0.0.1:\(port)/healthz"
                try await t.codeClient("web", redirect: callback)
                let browser = TestBrowser(client)
                let page = try await browser.get("/oauth2/authorize", authorizationRequest("web", redirect: callback))
                let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                    for index in 0..<12 {
                        group.addTask { try await browser.submit(page, [("username", "user-\(index % 4)"), ("password", "correct horse battery")]) }
                    }
                    return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
                }
                let shed = responses.filter { $0.status == .serviceUnavailable }
                #expect(!shed.isEmpty, "\(responses.map(\.status))")
                #expect(responses.allSatisfy { $0.status == .ok || $0.status == .serviceUnavailable }, "signed in, or shed")
                for response in shed {
                    #expect(response.headers[.retryAfter] == "1" && response.headers[.contentType]?.hasPrefix("text/html") == true)
                    #expect(response.alert != nil)
                }
            }
        }
    }

    @Test func aTemplatesDirectoryReplacesThePagesItNames() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signet-pages-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Only the login page is replaced; its values are still escaped.
        try #"<!doctype html><title>ACME</title><p class="brand">ACME sign-in for {{client_name}}</p>{{#error}}<p role="alert">{{error}}</p>{{/error}}"#
            .write(toFile: directory + "/login.mustache", atomically: true, encoding: .utf8)
        try await TestServices.with(overrides: ["login.templates_dir": .init(.string(directory), isSecret: false)]) { t in
            try await t.codeClient("web", name: "<b>Web</b>", skipConsent: false)
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let page = try await TestBrowser(client).get("/oauth2/authorize", authorizationRequest("web"))
                #expect(page.status == .ok && page.html.contains("ACME sign-in for &lt;b&gt;Web&lt;/b&gt;"))
                let error = try await TestBrowser(client).get("/oauth2/authorize", authorizationRequest("nobody"))
                #expect(error.status == .badRequest && error.html.contains("/assets/signet.css"), "the other pages stay built in")
            }
        }
    }

    @Test func registrationChecksRedirectURIs() async throws {
        try await TestServices.with { t in
            let register = { (uris: [String], grants: [GrantType], method: ClientAuthMethod, pkce: Bool?) in
                try await t.services.clients.register(
                    .init(authMethod: method, grantTypes: grants, redirectURIs: uris, requirePKCE: pkce), lifetimes: t.settings.lifetimes)
            }
            for uri in ["https://app.example/cb", "http://127.0.0.1:8400/cb", "http://127.9.9.9/cb", "http://[::1]:9000/cb", "http://localhost/cb?x=1"] {
                await #expect(throws: Never.self, "\(uri)") { _ = try await register([uri], [.authorizationCode], .clientSecretBasic, nil) }
            }
            for uri in ["http://app.example/cb", "https://app.example/cb#frag", "/cb", "app://cb", "https://user:pw@app.example/cb", "https://app.example/a b"] {
                await #expect(throws: SignetError.self, "\(uri)") { _ = try await register([uri], [.authorizationCode], .clientSecretBasic, nil) }
            }
            await #expect(throws: SignetError.self, "the code grant needs a redirect URI") { _ = try await register([], [.authorizationCode], .clientSecretBasic, nil) }
            await #expect(throws: SignetError.self, "a public client always needs PKCE") { _ = try await register(["https://a.example/cb"], [.authorizationCode], .none, false) }
        }
    }
}
