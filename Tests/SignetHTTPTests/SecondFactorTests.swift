import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

/// Multi-factor sign-in against the real PostgreSQL: TOTP at rest, replay, recovery codes, the
/// password grant's `totp`, the browser's enrolment, verification and step-up pages, the
/// policies, and the admin API's view and reset.
@Suite("Second factor", .timeLimit(.minutes(2)))
struct SecondFactorTests {
    static let callback = "https://app.example/callback"

    /// The code of `secret` `offset` steps from now (one step either side is accepted).
    static func code(_ secret: [UInt8], at date: Date = Date(), offset: Int64 = 0) -> String {
        let totp = TOTP(secret: secret)
        return totp.code(step: totp.step(at: date) + offset)
    }

    static func body(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
    }

    @Test func theSecretIsSealedAtRestAndACodeWorksOnce() async throws {
        try await TestServices.with { t in
            let alice = try await t.user("alice")
            let (secret, codes) = try await t.enrolTOTP("alice")
            #expect(secret.count == 20, "160 bits")
            #expect(codes.count == 10 && Set(codes).count == 10)
            let sealed: [Data] = try await t.database.column("SELECT secret_sealed FROM totp_credentials")
            let stored = try #require(sealed.first)
            #expect(stored.range(of: Data(secret)) == nil, "the database never holds the secret in clear")
            #expect(!String(decoding: stored, as: UTF8.self).contains(Base32.encode(secret, padding: false)))
            let hashes: [Data] = try await t.database.column("SELECT code_hash FROM recovery_codes")
            #expect(hashes.count == 10 && hashes.allSatisfy { $0.range(of: Data(codes[0].utf8)) == nil })

            let factor = t.services.secondFactor
            let event = AuditEvent("mfa_verified", userID: alice.id)
            let now = Date()
            func check(_ offset: Int64) async throws -> SecondFactor.Check {
                try await factor.check(Self.code(secret, at: now, offset: offset), userID: alice.id, event: event, now: now)
            }
            #expect(try await check(0) == .otp)
            #expect(try await check(0) == .refused(reason: "replayed_code"))
            #expect(try await check(-1) == .refused(reason: "replayed_code"), "an older step never after a newer one")
            #expect(try await check(1) == .otp, "one step ahead is accepted")
            #expect(try await check(3) == .refused(reason: "wrong_code"))

            // Recovery codes: each once, typed with or without the hyphen and in any case.
            #expect(try await factor.check(codes[0].uppercased(), userID: alice.id, event: event) == .recoveryCode(left: 9))
            #expect(try await factor.check(codes[0], userID: alice.id, event: event) == .refused(reason: "wrong_recovery_code"))
            #expect(try await factor.check(codes[1].replacingOccurrences(of: "-", with: ""), userID: alice.id, event: event) == .recoveryCode(left: 8))
            #expect(try await factor.status(userID: alice.id) == .init(totp: true, recoveryCodesLeft: 8))
            let used: [String] = try await t.database.column("SELECT detail->>'recovery_codes_left' FROM audit_events WHERE type = 'recovery_code_used' ORDER BY id")
            #expect(used == ["9", "8"])

            // Under another master key the sealed secret is useless.
            let other = SecondFactor(database: t.database, masterKey: .random(), settings: t.settings)
            await #expect(throws: (any Error).self) { try await other.check(Self.code(secret, offset: 1), userID: alice.id, event: event) }
        }
    }

    @Test func thePasswordGrantWantsTheSecondFactorAsTOTP() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            let secret = try #require(try await t.client("cli", grants: [.password, .refreshToken]))
            let (totp, codes) = try await t.enrolTOTP("alice")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let password = [("grant_type", "password"), ("username", "alice"), ("password", "correct horse battery")]
                let missing = try await client.token(password, basic: ("cli", secret))
                #expect(missing.status == .badRequest)
                #expect(try Self.body(missing)["error"] as? String == "invalid_grant")
                #expect((try Self.body(missing)["error_description"] as? String)?.contains("second factor") == true)

                let wrong = try await client.token(password + [("totp", "000000")], basic: ("cli", secret))
                let wrongBody = try Self.body(wrong)
                #expect(wrong.status == .badRequest && wrongBody["error_description"] as? String == "invalid username or password")
                let current = Self.code(totp)
                let wrongPasswordRightCode = try await client.token(
                    [("grant_type", "password"), ("username", "alice"), ("password", "not it at all"), ("totp", current)],
                    basic: ("cli", secret))
                #expect(wrongPasswordRightCode.status == .badRequest)
                let failures: [Int] = try await t.database.column("SELECT failed_login_count FROM users WHERE username = 'alice'")
                #expect(failures == [3], "a missing or wrong second factor counts toward the lockout like a wrong password")

                let signedIn = try await client.token(password + [("totp", current)], basic: ("cli", secret))
                #expect(signedIn.status == .ok, "\(signedIn.html)")
                let tokens = try Self.body(signedIn)
                let access = try await verifyWithJWKS(try #require(tokens["access_token"] as? String), jwks: try await client.jwks())
                #expect(access.amr == ["pwd", "otp"] && access.acr == "2")
                let replay = try await client.token(password + [("totp", current)], basic: ("cli", secret))
                #expect(replay.status == .badRequest, "the same code twice")

                // A refreshed token says how the login authenticated; so does introspection.
                let refreshed = try await client.refresh(try #require(tokens["refresh_token"] as? String), client: "cli", secret: secret)
                let again = try await verifyWithJWKS(try #require(try Self.body(refreshed)["access_token"] as? String), jwks: try await client.jwks())
                #expect(again.amr == ["pwd", "otp"] && again.acr == "2")
                let introspected = try await client.execute(
                    uri: "/oauth2/introspect", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded", .authorization: Form.basic("cli", secret)],
                    body: ByteBuffer(string: Form.encode([("token", try #require(tokens["access_token"] as? String))])))
                #expect(try Self.body(introspected)["acr"] as? String == "2")
                #expect(try Self.body(introspected)["amr"] as? [String] == ["pwd", "otp"])

                let recovery = try await client.token(password + [("totp", codes[0])], basic: ("cli", secret))
                let viaRecovery = try await verifyWithJWKS(try #require(try Self.body(recovery)["access_token"] as? String), jwks: try await client.jwks())
                #expect(viaRecovery.amr == ["pwd", "mfa"] && viaRecovery.acr == "2")
            }
            // Wrong codes counted toward the account's lockout like wrong passwords.
            let failed: [String] = try await t.database.column("SELECT type FROM audit_events WHERE type LIKE 'mfa_%' ORDER BY id")
            #expect(failed.filter { $0 == "mfa_failed" }.count == 2 && failed.filter { $0 == "mfa_verified" }.count == 2)
            let reasons: [String] = try await t.database.column("SELECT detail->>'reason' FROM audit_events WHERE type = 'mfa_failed' ORDER BY id")
            #expect(reasons == ["wrong_code", "replayed_code"])
        }
    }

    @Test func aClientThatRequiresMFATakesTheUserThroughEnrolmentWithAQRCode() async throws {
        try await TestServices.with { t in
            let alice = try await t.user("alice")
            let secret = try await t.services.clients.register(
                .init(clientID: "vault", authMethod: .clientSecretBasic, grantTypes: [.authorizationCode, .refreshToken],
                      scopes: ["openid", "profile"], redirectURIs: [Self.callback], skipConsent: true, requireMFA: true),
                lifetimes: t.settings.lifetimes
            ).secret
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let pkce = PKCEPair()
                let request = authorizationRequest("vault", pkce: pkce, scope: "openid profile")
                let login = try await browser.get("/oauth2/authorize", request)
                let enrol = try await browser.submit(login, [("username", "alice"), ("password", "correct horse battery")])
                #expect(enrol.status == .ok && browser.cookies["signet_session"] == nil, "not signed in before the second factor")
                #expect(browser.cookies["signet_mfa"] != nil)
                #expect(enrol.html.contains("<svg") && enrol.html.contains(#"role="img""#) && enrol.html.contains("aria-label="))
                #expect(!enrol.html.contains("<script"))
                let shown = try #require(enrol.html.firstMatch(of: /data-totp-secret>([A-Z2-7 ]+)</)).output.1
                let totp = try #require(Base32.decode(String(shown)))
                #expect(totp.count == 20)
                #expect(enrol.html.matches(of: /type="submit"/).count == 1)
                #expect(enrol.html.contains(#"name="otp""#))
                // The QR code is the otpauth URI of this secret, drawn by the same encoder.
                let uri = OTPAuthURI.totp(secret: totp, issuer: "localhost:8080", account: "alice")
                #expect(uri.hasPrefix("otpauth://totp/localhost%3A8080:alice?secret=\(Base32.encode(totp, padding: false))&issuer=localhost%3A8080"))
                let drawn = try QRCode(uri).svg(label: "QR code to add alice to an authenticator app")
                #expect(enrol.html.contains(drawn))

                let wrong = try await browser.submit(enrol, [("otp", "123456")])
                #expect(wrong.status == .ok && wrong.alert != nil && wrong.html.contains("data-totp-secret>\(shown)<"), "the same secret again")
                #expect(try await t.services.secondFactor.status(userID: alice.id).totp == false)

                let enrolCode = Self.code(totp)
                let done = try await browser.submit(enrol, [("otp", enrolCode)])
                #expect(done.status == .ok && browser.cookies["signet_session"] != nil && browser.cookies["signet_mfa"] == nil)
                let shownCodes = done.html.matches(of: /data-recovery-code>([a-z2-7]{5}-[a-z2-7]{5})</).map { String($0.output.1) }
                #expect(shownCodes.count == 10)
                #expect(try await t.services.secondFactor.status(userID: alice.id) == .init(totp: true, recoveryCodesLeft: 10))
                let back = try await browser.submit(done, [])
                #expect(back.status == .seeOther, "\(back.html)")
                let code = try #require(back.redirectQuery["code"])
                let exchanged = try await BrowserSignInTests.exchange(client, code: code, pkce: pkce, clientID: "vault", secret: secret)
                let tokens = try Self.body(exchanged)
                let keys = try await JWTKeyCollection().add(jwksJSON: try await client.jwks())
                let id = try await keys.verify(try #require(tokens["id_token"] as? String), as: IDTokenClaims.self)
                #expect(id.amr == ["pwd", "otp"] && id.acr == "2")
                let access = try await verifyWithJWKS(try #require(tokens["access_token"] as? String), jwks: try await client.jwks())
                #expect(access.amr == ["pwd", "otp"] && access.acr == "2")

                // Signed in again later: the code page, not enrolment; a recovery code works once.
                let second = TestBrowser(client)
                let page = try await second.get("/oauth2/authorize", request)
                let verify = try await second.submit(page, [("username", "alice"), ("password", "correct horse battery")])
                #expect(verify.html.contains(#"autocomplete="one-time-code""#) && !verify.html.contains("data-totp-secret"))
                #expect(verify.html.matches(of: /type="submit"/).count == 1)
                let replayed = try await second.submit(verify, [("otp", enrolCode)])
                #expect(replayed.alert != nil && second.cookies["signet_session"] == nil, "the code used for enrolment is spent")
                let recovered = try await second.submit(verify, [("otp", shownCodes[0])])
                #expect(recovered.status == .seeOther && second.cookies["signet_session"] != nil)

                let third = TestBrowser(client)
                let again = try await third.submit(try await third.get("/oauth2/authorize", request),
                                                   [("username", "alice"), ("password", "correct horse battery")])
                let reused = try await third.submit(again, [("otp", shownCodes[0])])
                #expect(reused.alert != nil && third.cookies["signet_session"] == nil)
            }
            let types: [String] = try await t.database.column("SELECT type FROM audit_events WHERE type LIKE 'mfa_%' OR type = 'recovery_code_used' ORDER BY id")
            #expect(types == ["mfa_failed", "mfa_enrolled", "mfa_verified", "mfa_failed", "recovery_code_used", "mfa_verified", "mfa_failed"])
        }
    }

    @Test func acrValues2StepsUpAPasswordSessionWithoutAskingForThePassword() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            let secret = try await t.codeClient("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let first = try await BrowserSignInTests.signIn(browser, authorizationRequest("web"))
                #expect(first.status == .seeOther)
                // Alice's browser session predates her TOTP: it is one-factor.
                let (fresh, _) = try await t.enrolTOTP("alice")
                let sid = try await t.database.column("SELECT id::text FROM browser_sessions WHERE revoked_at IS NULL", as: String.self)
                #expect(sid.count == 1)

                // Plain SSO still works for a client that needs one factor.
                let sso = try await browser.get("/oauth2/authorize", authorizationRequest("web"))
                #expect(sso.status == .found)
                // acr_values=2: the second factor, no password page, and the same session raised.
                let oldCookie = try #require(browser.cookies["signet_session"])
                let pkce = PKCEPair()
                let stepUp = try await browser.get("/oauth2/authorize", authorizationRequest("web", pkce: pkce, extra: [("acr_values", "2")]))
                #expect(stepUp.status == .ok && !stepUp.isLoginPage && stepUp.html.contains(#"name="otp""#))
                let silent = try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("acr_values", "2"), ("prompt", "none")]))
                #expect(silent.redirectQuery["error"] == "interaction_required")
                let back = try await browser.submit(stepUp, [("otp", Self.code(fresh))])
                #expect(back.status == .seeOther, "\(back.html)")
                #expect(browser.cookies["signet_session"] != oldCookie, "a raised session gets a new cookie secret")
                let after = try await t.database.column("SELECT id::text || acr || array_to_string(amr, ',') FROM browser_sessions WHERE revoked_at IS NULL", as: String.self)
                #expect(after == [sid[0] + "2pwd,otp"], "the same session, now two-factor")
                let tokens = try Self.body(try await BrowserSignInTests.exchange(
                    client, code: try #require(back.redirectQuery["code"]), pkce: pkce, secret: secret))
                let keys = try await JWTKeyCollection().add(jwksJSON: try await client.jwks())
                let id = try await keys.verify(try #require(tokens["id_token"] as? String), as: IDTokenClaims.self)
                #expect(id.acr == "2" && id.amr == ["pwd", "otp"] && id.sid == sid[0])
                // From now on acr_values=2 is met by single sign-on.
                #expect(try await browser.get("/oauth2/authorize", authorizationRequest("web", extra: [("acr_values", "2")])).status == .found)
            }
        }
    }

    @Test func rolesThatRequireMFAAreEnforcedBySingleSignOnToo() async throws {
        try await TestServices.with(overrides: ["mfa.required_roles": "auditor"]) { t in
            try await t.user("alice")
            try await t.user("olga", roles: ["auditor"])
            try await t.codeClient("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let plain = try await BrowserSignInTests.signIn(TestBrowser(client), authorizationRequest("web"))
                #expect(plain.status == .seeOther, "alice holds no such role")
                let olga = TestBrowser(client)
                let enrol = try await BrowserSignInTests.signIn(olga, authorizationRequest("web"), user: "olga")
                #expect(enrol.status == .ok && enrol.html.contains("data-totp-secret"))
                #expect(olga.cookies["signet_session"] == nil)
            }
            // A one-factor session of a user who holds the role gets no code from the fast path.
            let olga = try #require(try await t.services.environment.users.store.find(username: Username("olga")))
            let browserSession = NewBrowserSession(authTime: Date(), amr: ["pwd"], absoluteLifetime: 3600)
            _ = try await t.database.column(
                """
                INSERT INTO browser_sessions (id, secret_hash, user_id, user_generation, auth_time, amr, expires_at)
                VALUES (\(browserSession.id), \(browserSession.secret.hash), \(olga.id), 0, now(), '{pwd}', now() + interval '1 hour')
                RETURNING id::text
                """, as: String.self)
            let app2 = try await buildApplication(reader: t.reader)
            try await app2.test(.router) { client in
                let browser = TestBrowser(client)
                browser.set("signet_session", browserSession.secret.value)
                let page = try await browser.get("/oauth2/authorize", authorizationRequest("web"))
                #expect(page.status == .ok && page.html.contains("data-totp-secret"), "step-up to enrolment, not a code")
            }
        }
    }

    @Test func anAdminResetRemovesTheFactorAndEndsTheSessions() async throws {
        try await TestServices.with { t in
            let alice = try await t.user("alice")
            let secret = try #require(try await t.client("cli", grants: [.password, .refreshToken]))
            let (totp, _) = try await t.enrolTOTP("alice")
            let admin = try await t.adminToken()
            let login = try await t.login("alice", totp: Self.code(totp), client: "cli")
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let read = try await client.admin(.get, "/admin/users/\(alice.id.uuidString.lowercased())", token: admin)
                let mfa = try #require(read.object["mfa"] as? [String: Any])
                #expect(mfa["totp"] as? Bool == true && mfa["recovery_codes_left"] as? Int == 10)
                #expect(!read.html.contains("secret"))
                let reset = try await client.admin(.delete, "/admin/users/\(alice.id.uuidString.lowercased())/mfa", token: admin)
                #expect(reset.status == .noContent)
                let after = try await client.admin(.get, "/admin/users/\(alice.id.uuidString.lowercased())", token: admin)
                #expect((after.object["mfa"] as? [String: Any])?["totp"] as? Bool == false)
                #expect(try await client.admin(.delete, "/admin/users/\(UUID().uuidString.lowercased())/mfa", token: admin).status == .notFound)
            }
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let refreshed = try await client.refresh(try #require(login.refreshToken), client: "cli", secret: secret)
                #expect(refreshed.status == .badRequest, "the reset ended alice's sessions")
            }
            let root = try #require(try await t.services.environment.users.store.find(username: Username("root")))
            let events: [String] = try await t.database.column("SELECT detail->>'actor' FROM audit_events WHERE type = 'mfa_reset'")
            #expect(events == [root.id.uuidString.lowercased()], "audited with the admin who did it")
        }
    }

    @Test func twoSubmissionsOfOneCodeMakeOneSession() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            try await t.codeClient("web")
            let (totp, _) = try await t.enrolTOTP("alice")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let browser = TestBrowser(client)
                let page = try await BrowserSignInTests.signIn(browser, authorizationRequest("web"))
                let code = Self.code(totp)
                async let one = browser.submit(page, [("otp", code)])
                async let two = browser.submit(page, [("otp", code)])
                let results = try await [one, two]
                #expect(results.filter { $0.status == .seeOther }.count == 1)
            }
            let sessions: [String] = try await t.database.column("SELECT id::text FROM browser_sessions")
            #expect(sessions.count == 1)
        }
    }
}
