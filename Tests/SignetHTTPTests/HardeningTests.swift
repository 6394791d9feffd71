import Configuration
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import SignetCore
import SignetHTTP
import SignetTestSupport
import Synchronization
import Testing

@Suite("Abuse resistance and strict input", .timeLimit(.minutes(2)))
struct HardeningTests {
    @Test func perAddressRateLimitTripsAndRefills() async throws {
        try await TestServices.with(overrides: ["rate_limit.burst": 3, "rate_limit.requests_per_second": 1,
                                                "rate_limit.trusted_proxy_header": "X-Forwarded-For",
                                                "rate_limit.trusted_proxies": "127.0.0.0/8, 10.0.0.0/8"]) { t in
            // The limiter's time stands still unless the test moves it: no sleeping, no flakiness.
            let time = ManualTime()
            let app = Application(
                router: try buildPublicRouter(t.services, clock: .manual(time)), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                func revoke(from address: String) async throws -> TestResponse {
                    try await client.execute(
                        uri: "/oauth2/revoke", method: .post,
                        headers: [.contentType: "text/plain", HTTPField.Name("X-Forwarded-For")!: "10.9.9.9, \(address)"],
                        body: ByteBuffer(string: "token=x"))
                }
                for _ in 0..<3 { #expect(try await revoke(from: "192.0.2.1").status == .badRequest) }
                let limited = try await revoke(from: "192.0.2.1")
                #expect(limited.status == .tooManyRequests)
                #expect(limited.headers[.retryAfter] == "1")
                #expect(try limited.decode(ErrorBody.self).error == "slow_down")
                let behindTwo = try await client.execute(
                    uri: "/oauth2/revoke", method: .post,
                    headers: [.contentType: "text/plain", HTTPField.Name("X-Forwarded-For")!: "192.0.2.1, 10.9.9.9"],
                    body: ByteBuffer(string: "token=x"))
                #expect(behindTwo.status == .tooManyRequests, "trusted proxies are skipped: the client is the right-most other address")
                #expect(try await revoke(from: "192.0.2.2").status == .badRequest, "another address has its own bucket")
                time.advance(by: .milliseconds(900))
                #expect(try await revoke(from: "192.0.2.1").status == .tooManyRequests, "not yet a whole token back")
                time.advance(by: .milliseconds(200))
                #expect(try await revoke(from: "192.0.2.1").status == .badRequest, "the bucket refills one token a second")
                #expect(try await revoke(from: "192.0.2.1").status == .tooManyRequests)
            }
        }
    }

    @Test func fortyWrongPasswordsFromOneAddressAreCutOffEarly() async throws {
        try await TestServices.with(overrides: ["rate_limit.burst": 1000, "login.lockout_base_seconds": 60]) { t in
            try await t.user("victim")
            let secret = try await t.client("web")
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                var statuses: [HTTPResponse.Status] = []
                for attempt in 0..<40 {
                    let response = try await client.token(
                        [("grant_type", "password"), ("username", "victim"), ("password", "guess number \(attempt)")], basic: ("web", secret))
                    statuses.append(response.status)
                }
                let first429 = try #require(statuses.firstIndex(of: .tooManyRequests))
                #expect(first429 <= 10, "the default allows a burst of 10 failures")
                #expect(statuses[..<first429].allSatisfy { $0 == .badRequest })
                #expect(statuses[first429...].allSatisfy { $0 == .tooManyRequests })
                let counted: [Int] = try await t.database.column("SELECT failed_login_count FROM users WHERE username = 'victim'")
                #expect(counted == [min(first429, t.settings.lockout.threshold)],
                        "refused requests never reach the password check, nor do those after the source locked")
            }
        }
    }

    /// Unknown user, wrong password and locked account: the same body and the same work. The work
    /// is counted exactly (one Argon2id verification at the configured cost per refusal, read from
    /// the hashing metrics); wall time is compared on many interleaved samples in a shuffled order
    /// per round, with a margin a loaded 2-core machine keeps, as a check that nothing else
    /// (a skipped hash, an extra round trip per kind) tells the kinds apart.
    @Test func refusalsAreIndistinguishableInBodyAndWork() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = SignetMetrics(factory: PrometheusMetricsFactory(registry: registry))
        try await TestServices.with(overrides: [
            "argon2.memory_kib": 19_456, "argon2.iterations": 2, "rate_limit.burst": 10_000, "rate_limit.failed_login_burst": 10_000,
            "login.lockout_threshold": 1000, "login.lockout_account_threshold": 1000,
        ], metrics: metrics) { t in
            try await t.user("wendy")
            try await t.user("locked")
            try await t.database.client.query(
                "UPDATE users SET failed_login_count = 50, locked_until = now() + interval '1 hour' WHERE username = 'locked'",
                logger: t.database.logger)
            let secret = try await t.client("web")
            @Sendable func hashes() -> Int {
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                let line = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
                    .first { $0.hasPrefix("signet_argon2_hash_duration_seconds_count") }
                return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            }
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                func attempt(_ user: String, _ password: String) async throws -> (body: String, seconds: Double, hashes: Int) {
                    let before = hashes()
                    let start = ContinuousClock.now
                    let response = try await client.token(
                        [("grant_type", "password"), ("username", user), ("password", password)], basic: ("web", secret))
                    let elapsed = ContinuousClock.now - start
                    #expect(response.status == .badRequest)
                    return (String(buffer: response.body), Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds),
                            hashes() - before)
                }
                var times: [String: [Double]] = [:]
                var bodies = Set<String>()
                for round in 0..<40 {
                    for kind in ["unknown", "wrong", "locked"].shuffled() {
                        let result = switch kind {
                        case "unknown": try await attempt("nobody-\(round)", "correct horse battery")
                        case "wrong": try await attempt("wendy", "not her password")
                        default: try await attempt("locked", "correct horse battery")
                        }
                        #expect(result.hashes == 1, "\(kind): exactly one hash at the configured cost")
                        if round > 0 { times[kind, default: []].append(result.seconds) }
                        bodies.insert(result.body)
                    }
                }
                #expect(bodies.count == 1)
                let medians = times.values.map { $0.sorted()[$0.count / 2] }
                let spread = (medians.max()! - medians.min()!) / medians.min()!
                #expect(spread < 0.5, "medians \(times.mapValues { $0.sorted()[$0.count / 2] })")
            }
        }
    }

    @Test func fullHashingQueueAnswers503AtOnceWhileOtherEndpointsStayUp() async throws {
        try await TestServices.with(overrides: [
            "argon2.memory_kib": 65_536, "argon2.iterations": 4, "argon2.threads": 1, "argon2.queue_limit": 1,
            "rate_limit.burst": 10_000, "rate_limit.failed_login_burst": 10_000,
        ]) { t in
            try await t.user("olive")
            let secret = try await t.client("web")
            let login = try await t.login("olive", client: "web")
            let app = Application(router: try buildPublicRouter(t.services), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.ahc()) { client in
                async let flood = withThrowingTaskGroup(of: TestResponse.self) { group in
                    for _ in 0..<24 {
                        group.addTask {
                            try await client.token([("grant_type", "password"), ("username", "olive"), ("password", "correct horse battery")],
                                                   basic: ("web", secret))
                        }
                    }
                    return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
                }
                try await Task.sleep(for: .milliseconds(50))
                let health = try await client.execute(uri: "/healthz", method: .get)
                let jwks = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
                let refresh = try await client.refresh(login.refreshToken!, client: "web", secret: secret)
                #expect(health.status == .ok && jwks.status == .ok && refresh.status == .ok, "no hashing needed, no queueing")
                let responses = try await flood
                let shed = responses.filter { $0.status == .serviceUnavailable }
                #expect(!shed.isEmpty)
                #expect(responses.allSatisfy { $0.status == .ok || $0.status == .serviceUnavailable })
                for response in shed {
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(try response.decode(ErrorBody.self).error == "temporarily_unavailable")
                }
            }
        }
    }

    @Test func malformedInputGetsAClear4xxNamingTheParameter() async throws {
        try await TestServices.with { t in
            let secret = try await t.client("web")
            let admin = try await t.adminToken()
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                func post(_ body: String, contentType: String = "application/x-www-form-urlencoded") async throws -> TestResponse {
                    try await client.execute(
                        uri: "/oauth2/token", method: .post,
                        headers: [.contentType: contentType, .authorization: Form.basic("web", secret!)], body: ByteBuffer(string: body))
                }
                let huge = try await post("grant_type=password&username=a&password=" + String(repeating: "p", count: 17_000))
                #expect(huge.status == .contentTooLarge)
                #expect((try? huge.decode(ErrorBody.self))?.error == "invalid_request", "\(String(buffer: huge.body))")
                let cases: [(String, String)] = [
                    ("grant_type=password&username=%FF%FE&password=x", "username"),
                    ("grant_type=password&username=a%00b&password=x", "username"),
                    ("grant_type=password&username=" + String(repeating: "u", count: 1100) + "&password=x", "username"),
                    ("grant_type=password&username=a&password=" + String(repeating: "p", count: 1100), "password"),
                    ("grant_type=password&username=a&password=%E0%A4", "password"),
                    ("grant_type=password&grant_type=refresh_token", "grant_type"),
                ]
                for (body, parameter) in cases {
                    let response = try await post(body)
                    #expect(response.status == .badRequest, "\(body.prefix(60))")
                    let error = try #require(try? response.decode(ErrorBody.self), "\(body.prefix(60)): \(response.status) \(String(buffer: response.body))")
                    #expect(error.error == "invalid_request")
                    #expect(error.error_description?.contains(parameter) == true, "\(error.error_description ?? "")")
                }
                #expect(try await post(#"{"grant_type":"password","username":{"x":1}}"#, contentType: "application/json").status == .badRequest)
                #expect(try await post("grant_type=password", contentType: "multipart/form-data").status == .badRequest)

                for basic in ["a%00b:x", "a\u{0}b:x", String(repeating: "c", count: 200) + ":x"] {
                    let response = try await client.execute(
                        uri: "/oauth2/token", method: .post,
                        headers: [.contentType: "application/x-www-form-urlencoded",
                                  .authorization: "Basic " + Data(basic.utf8).base64EncodedString()],
                        body: ByteBuffer(string: "grant_type=client_credentials"))
                    #expect(response.status == .unauthorized, "\(basic.prefix(12))")
                }
                let missing = try await client.execute(uri: "/no/such/path", method: .get)
                #expect(missing.status == .notFound)
                #expect((try? missing.decode(ErrorBody.self))?.error == "not_found", "\(String(buffer: missing.body))")
            }
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let body = #"{"username":"x","password":""# + String(repeating: "p", count: 70_000) + #""}"#
                let huge = try await client.admin(.post, "/admin/users", token: admin, json: body)
                #expect(huge.status == .contentTooLarge)
                #expect(huge.object["error"] as? String == "request_too_large")
                let nul = try await client.admin(.post, "/admin/users", token: admin, json: #"{"username":"a\u0000b","password":"long enough pw"}"#)
                #expect(nul.status == .badRequest)
                // Values PostgreSQL cannot take must be refused before they reach it.
                let cursor = Data("x|\(UUID())".utf8).base64URLEncodedString()
                for (method, path, json) in [
                    (HTTPRequest.Method.get, "/admin/audit?type=%00", nil),
                    (.get, "/admin/revocations?tokens_after=%00", nil),
                    (.get, "/admin/revocations?sessions_before=\(cursor)", nil),
                    (.post, "/admin/revocations", #"{"jti":"a\u0000b"}"#),
                    (.post, "/admin/clients", #"{"grant_types":["password"],"audience":"\u0000"}"#),
                    (.post, "/admin/clients", #"{"grant_types":["password"],"client_name":"x\u0000"}"#),
                ] as [(HTTPRequest.Method, String, String?)] {
                    let response = try await client.admin(method, path, token: admin, json: json)
                    #expect(response.status == .badRequest, "\(method) \(path) \(json ?? "")")
                }
            }
        }
    }

    @Test func everyResponseCarriesARequestIDAndNosniff() async throws {
        try await TestServices.with { t in
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                let ok = try await client.execute(uri: "/healthz", method: .get)
                let error = try await client.execute(uri: "/oauth2/token", method: .post)
                let missing = try await client.execute(uri: "/nope", method: .get)
                for response in [ok, error, missing] {
                    #expect(response.headers[.init("X-Content-Type-Options")!] == "nosniff")
                    #expect((response.headers[.init("X-Request-Id")!]?.count ?? 0) >= 16)
                }
                #expect(ok.headers[.init("X-Request-Id")!] != error.headers[.init("X-Request-Id")!])
                let traced = try await client.execute(uri: "/healthz", method: .get, headers: [.init("X-Request-Id")!: "trace-123"])
                #expect(traced.headers[.init("X-Request-Id")!] == "trace-123")
                let hostile = try await client.execute(uri: "/healthz", method: .get, headers: [.init("X-Request-Id")!: "bad id\twith tab"])
                #expect(hostile.headers[.init("X-Request-Id")!] != "bad id\twith tab")
            }
        }
    }

    @Test func logsNeverContainSecrets() async throws {
        let lines = LogCapture()
        let logger = {
            var logger = Logger(label: "capture") { _ in CapturingLogHandler(lines: lines) }
            logger.logLevel = .trace
            return logger
        }()
        let password = "Pa55word-never-logged"
        try await TestServices.with(overrides: ["log.level": "trace"], logger: logger) { t in
            try await t.user("quinn", password: password)
            let secret = try #require(try await t.client("web"))
            let codeSecret = try #require(try await t.codeClient("browser-app"))
            let admin = try await t.adminToken()
            var secrets = [password, secret, codeSecret, admin]
            secrets += try await Application(router: try buildPublicRouter(t.services), logger: logger).test(.router) { client in
                let login = try await client.login("quinn", password: password, client: "web", secret: secret)
                _ = try await client.attemptLogin("quinn", password: password + "x", client: "web", secret: secret)
                let refreshed = try await client.refresh(login.refresh_token!, client: "web", secret: secret).decode(TokenBody.self)
                _ = try await client.form("/oauth2/introspect", [("token", login.access_token)], basic: ("web", secret))
                _ = try await client.form("/oauth2/revoke", [("token", refreshed.refresh_token!)], basic: ("web", secret))
                // Browser sign-in: the session cookie, the CSRF token, the code and the verifier.
                let browser = TestBrowser(client)
                let pkce = PKCEPair()
                let page = try await browser.get("/oauth2/authorize", authorizationRequest("browser-app", pkce: pkce))
                let csrf = TestBrowser.hiddenFields(page).first { $0.0 == "csrf_token" }?.1 ?? "missing"
                _ = try await browser.submit(page, [("username", "quinn"), ("password", password + "y")])
                let back = try await browser.submit(page, [("username", "quinn"), ("password", password)])
                let code = back.redirectQuery["code"] ?? "missing"
                let exchanged = try await client.token(
                    [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "https://app.example/callback"),
                     ("code_verifier", pkce.verifier)], basic: ("browser-app", codeSecret))
                let browserTokens = try exchanged.decode(TokenBody.self)
                _ = try await client.token(
                    [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "https://app.example/callback"),
                     ("code_verifier", pkce.verifier)], basic: ("browser-app", codeSecret))
                // The second factor: enrolment's secret, the step's cookie, recovery codes (typed and shown).
                let second = TestBrowser(client)
                let start = try await second.get("/oauth2/authorize", authorizationRequest("browser-app"))
                let enrol = try await second.submit(start, [("username", "quinn"), ("password", password), ("add_second_factor", "1")])
                let shown = enrol.html.firstMatch(of: /data-totp-secret>([A-Z2-7 ]+)</).map { String($0.output.1) } ?? "missing"
                let totp = TOTP(secret: Base32.decode(shown) ?? [])
                let mfaCookie = second.cookies["signet_mfa"] ?? "missing"
                let done = try await second.submit(enrol, [("otp", totp.code(step: totp.step(at: Date())))])
                let codes = done.html.matches(of: /data-recovery-code>([a-z2-7-]+)</).map { String($0.output.1) }
                _ = try await client.attemptLogin("quinn", password: password, client: "web", secret: secret)
                _ = try await client.token(
                    [("grant_type", "password"), ("username", "quinn"), ("password", password), ("totp", codes.first ?? "x")],
                    basic: ("web", secret))
                return [
                    login.access_token, login.refresh_token!, refreshed.access_token, refreshed.refresh_token!, code, pkce.verifier, csrf,
                    browser.cookies["signet_session"] ?? "missing", browser.cookies["signet_flow"] ?? "missing",
                    browserTokens.access_token, browserTokens.refresh_token!, shown, shown.replacingOccurrences(of: " ", with: ""),
                    mfaCookie, second.cookies["signet_session"] ?? "missing",
                ] + (codes.count == 10 ? codes : ["missing recovery codes"])
            }
            secrets += try await Application(router: try buildAdminRouter(t.services), logger: logger).test(.router) { client in
                _ = try await client.admin(.post, "/admin/users", token: admin, json: #"{"username":"rita","password":"rita-secret-pw"}"#)
                let created = try await client.admin(.post, "/admin/clients", token: admin, json: #"{"grant_types":["client_credentials"]}"#)
                return ["rita-secret-pw", created.object["client_secret"] as? String ?? "missing"]
            }
            let sealed: [String] = try await t.database.column("SELECT encode(private_key_sealed, 'base64') FROM signing_keys")
            secrets += sealed.map { String($0.prefix(40)) }
            let captured = lines.all.joined(separator: "\n")
            #expect(lines.all.count > 20, "the flows were logged at trace level")
            for secret in secrets { #expect(!captured.contains(secret), "a secret appeared in the logs") }
        }
    }
}

extension TestClientProtocol {
    /// A login that may fail; `nil` when it did.
    func attemptLogin(_ username: String, password: String, client: String, secret: String?) async throws -> TokenBody? {
        let response = try await token(
            [("grant_type", "password"), ("username", username), ("password", password)], basic: (client, secret))
        return response.status == .ok ? try response.decode(TokenBody.self) : nil
    }
}

/// Collected log lines of a test.
final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var all: [String] { storage.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let lines: LogCapture
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.append("\(event.level) \(event.message) \(all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))")
    }
}
