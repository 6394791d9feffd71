import Configuration
import Foundation

/// Every tunable of Signet, typed and validated once at start-up.
///
/// Settings are read through a swift-configuration `ConfigReader` whose providers are, in order:
/// `SIGNET_*` environment variables, `Config/signet.json`, then `Settings.defaults`. A value that is
/// missing everywhere falls back to its default; a value that is present but wrong stops start-up
/// with a ``SettingsError`` naming the setting and its environment variable.
public struct Settings: Sendable, Equatable {
    public struct Database: Sendable, Equatable {
        public var url: DatabaseURL
        public var poolSize: Int
        public var connectTimeoutSeconds: Int
        public var migrationsDirectory: String
        /// The schema Signet's tables live in (PostgreSQL `search_path`); it must exist.
        public var schema: String
    }

    public struct Listener: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// Client addresses the listener answers; empty: every address that reaches it.
        public var allowedNetworks: [IPNetwork]

        public init(host: String, port: Int, allowedNetworks: [IPNetwork] = []) {
            self.host = host
            self.port = port
            self.allowedNetworks = allowedNetworks
        }
    }

    public struct Argon2: Sendable, Equatable {
        public var parameters: Argon2Parameters
        /// Threads hashing passwords; never more than the machine's cores.
        public var threads: Int
        /// Hash requests allowed to wait for a thread before callers are turned away.
        public var queueLimit: Int
    }

    public struct Lifetimes: Sendable, Equatable {
        public var accessTokenSeconds: Int
        public var refreshAbsoluteSeconds: Int
        public var refreshIdleSeconds: Int
        public var refreshReuseGraceSeconds: Int
    }

    public struct Keys: Sendable, Equatable {
        public var algorithm: SigningAlgorithm
        /// The current key is replaced by the next one this long after it started signing.
        public var rotationIntervalSeconds: Int
        /// How often a node re-reads the key set from the database (rotations by other nodes).
        public var reloadIntervalSeconds: Int
        /// `Cache-Control: max-age` of the JWKS; kept shorter than the time a next key is
        /// published before it signs.
        public var jwksMaxAgeSeconds: Int
    }

    /// Brute-force protection of accounts (kept in PostgreSQL, so it holds across nodes and restarts).
    public struct Lockout: Sendable, Equatable {
        /// Failed logins in a row on one account from one source (an IPv4 address or IPv6 /64)
        /// before that source's back-off starts.
        public var threshold: Int
        /// Failed logins in a row on one account from all sources before the whole account backs
        /// off: looser, so that one attacker cannot lock the owner out from everywhere.
        public var accountThreshold: Int
        /// The first back-off; each further failure doubles it, up to `maximumSeconds`.
        public var baseSeconds: Int
        public var maximumSeconds: Int

        public init(threshold: Int, accountThreshold: Int, baseSeconds: Int, maximumSeconds: Int) {
            self.threshold = threshold
            self.accountThreshold = accountThreshold
            self.baseSeconds = baseSeconds
            self.maximumSeconds = maximumSeconds
        }
    }

    /// Per-client-address token buckets of the OAuth endpoints (in memory, per node).
    public struct RateLimits: Sendable, Equatable {
        /// Requests per second and burst per address, on token, revoke and introspect.
        public var requestsPerSecond: Double
        public var burst: Int
        /// Failed password logins an address may make in a burst, and one more every so many seconds.
        public var failedLoginBurst: Int
        public var failedLoginRefillSeconds: Int
        /// The header carrying the client address from a trusted proxy (`X-Forwarded-For`,
        /// `X-Real-IP`), or `none` to use the connection's peer address.
        public var trustedProxyHeader: String?
        /// The proxies whose header is believed: only a peer in one of these networks may name
        /// the client address, and the right-most address not in them is the client.
        public var trustedProxies: [IPNetwork]
        /// Addresses tracked per limiter; beyond it the least recently active are forgotten.
        public var maximumTrackedAddresses: Int
    }

    public struct HTTP: Sendable, Equatable {
        public var publicBodyLimit: Int
        public var adminBodyLimit: Int
        /// Seconds to finish in-flight requests after SIGTERM before stopping anyway.
        public var shutdownGraceSeconds: Int
        /// Seconds a request may take (e.g. waiting for a database that stopped answering) before
        /// it is cancelled and answered 503.
        public var requestTimeoutSeconds: Int
        /// Seconds a connection may stay open without sending anything (between requests, or
        /// in the middle of one) before it is closed.
        public var idleTimeoutSeconds: Int
        /// Seconds a client has to send a whole request, head and body, once it has started one.
        public var readTimeoutSeconds: Int
        /// Open connections per listener; further connections are closed at once.
        public var maximumConnections: Int
    }

    /// How long what has served its purpose is kept (expired sessions, revoked tokens past their
    /// expiry, stale login counters, audit events), and how often a node removes the rest.
    public struct Retention: Sendable, Equatable {
        public var auditDays: Int
        /// Expired or revoked sessions are kept this long after they ended, for the admin lists.
        public var endedSessionDays: Int
        public var intervalSeconds: Int
    }

    /// Browser sign-in: single sign-on sessions, authorization codes, the pages' templates.
    public struct BrowserSignIn: Sendable, Equatable {
        /// A browser session ends after this long without an authorization request.
        public var sessionIdleSeconds: Int
        /// …and this long after the sign-in, whatever happens.
        public var sessionAbsoluteSeconds: Int
        /// How long an authorization code can be exchanged (60 s at most).
        public var codeLifetimeSeconds: Int
        /// A directory of `.mustache` files replacing the built-in pages of the same name, or nil.
        public var templatesDirectory: String?
    }

    public var database: Database
    public var publicListener: Listener
    public var adminListener: Listener
    public var issuer: URL
    public var lifetimes: Lifetimes
    public var argon2: Argon2
    public var keys: Keys
    public var lockout: Lockout
    public var rateLimits: RateLimits
    public var http: HTTP
    public var retention: Retention
    public var browser: BrowserSignIn
    /// Roles whose users must sign in with a second factor (`mfa.required_roles`).
    public var mfaRequiredRoles: [String]
    /// The audience an access token must carry to be accepted by the admin API; only clients
    /// registered with this `audience` can obtain such tokens.
    public var adminAudience: String
    /// Allowed clock skew when checking `exp` and `nbf`.
    public var leewaySeconds: Int
    /// How often every in-memory cache is dropped regardless of change notifications (a backstop).
    public var cacheRefreshSeconds: Int
    /// `text` (one line per event, key=value metadata) or `json` (one JSON object per line).
    public var logFormat: String
    public var masterKeyFile: String
    /// The master key given directly (base64), which wins over `masterKeyFile`. Never logged.
    public var masterKey: String?
    public var logLevel: String

    /// The built-in default of every setting, keyed by its dotted path. `Config/signet.json` repeats
    /// these values so operators can read them; a test keeps the two identical.
    public static let defaults: [String: ConfigValue] = [
        "database.url": "postgres://signet@127.0.0.1:54329/signet",
        "database.pool_size": 16,
        "database.connect_timeout_seconds": 5,
        "database.migrations_dir": "Migrations",
        "database.schema": "public",
        "public.host": "0.0.0.0",
        "public.port": 8080,
        "public.allowed_networks": "none",
        "admin.host": "127.0.0.1",
        "admin.allowed_networks": "none",
        "admin.port": 8081,
        "admin.audience": "urn:signet:admin",
        "issuer": "http://localhost:8080",
        "access_token.lifetime_seconds": 600,
        "refresh.absolute_lifetime_seconds": 2_592_000,
        "refresh.idle_lifetime_seconds": 1_209_600,
        "refresh.reuse_grace_seconds": 10,
        "argon2.memory_kib": 19_456,
        "argon2.iterations": 2,
        "argon2.parallelism": 1,
        "argon2.threads": 0,
        "argon2.queue_limit": 64,
        "keys.algorithm": "ES256",
        "keys.rotation_interval_seconds": 2_592_000,
        "keys.reload_interval_seconds": 30,
        "keys.jwks_max_age_seconds": 300,
        "access_token.leeway_seconds": 30,
        "cache.refresh_interval_seconds": 60,
        "login.lockout_threshold": 5,
        "login.lockout_account_threshold": 20,
        "login.lockout_base_seconds": 1,
        "login.lockout_max_seconds": 900,
        "rate_limit.requests_per_second": 20,
        "rate_limit.burst": 40,
        "rate_limit.failed_login_burst": 10,
        "rate_limit.failed_login_refill_seconds": 30,
        "rate_limit.trusted_proxy_header": "none",
        "rate_limit.trusted_proxies": "none",
        "rate_limit.max_tracked_addresses": 100_000,
        "http.public_body_limit_bytes": 16_384,
        "http.admin_body_limit_bytes": 65_536,
        "http.shutdown_grace_seconds": 10,
        "http.request_timeout_seconds": 10,
        "http.idle_timeout_seconds": 30,
        "http.read_timeout_seconds": 10,
        "http.max_connections": 4096,
        "browser_session.idle_lifetime_seconds": 3600,
        "browser_session.absolute_lifetime_seconds": 36_000,
        "authorization_code.lifetime_seconds": 60,
        "login.templates_dir": "none",
        "mfa.required_roles": "admin",
        "retention.audit_days": 365,
        "retention.ended_session_days": 30,
        "retention.interval_seconds": 3600,
        "master_key_file": ".data/master.key",
        "log.level": "info",
        "log.format": "text",
    ]

    /// Reads and validates every setting from `reader`.
    public init(reader: ConfigReader) throws(SettingsError) {
        let r = SettingReader(reader: reader)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        database = Database(
            url: try r.value("database.url") { try DatabaseURL(string: $0) },
            poolSize: try r.int("database.pool_size", in: 1...1000),
            connectTimeoutSeconds: try r.int("database.connect_timeout_seconds", in: 1...600),
            migrationsDirectory: try r.string("database.migrations_dir"),
            schema: try r.value("database.schema") { text in
                // 56 characters at most: the change-notification channel is "signet_" + schema, and
                // PostgreSQL identifiers (channel names too) stop at 63 bytes.
                guard text.range(of: "^[a-z_][a-z0-9_]{0,55}$", options: .regularExpression) != nil else {
                    throw SettingProblem("must be a lower-case SQL identifier of at most 56 characters")
                }
                return text
            }
        )
        publicListener = Listener(
            host: try r.string("public.host"), port: try r.int("public.port", in: 0...65535),
            allowedNetworks: try r.networks("public.allowed_networks"))
        adminListener = Listener(
            host: try r.string("admin.host"), port: try r.int("admin.port", in: 0...65535),
            allowedNetworks: try r.networks("admin.allowed_networks"))
        issuer = try r.value("issuer") { text in
            guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme),
                  url.host != nil, url.query == nil, url.fragment == nil
            else { throw SettingProblem("must be an absolute http(s) URL without query or fragment") }
            return url
        }
        lifetimes = Lifetimes(
            accessTokenSeconds: try r.int("access_token.lifetime_seconds", in: 10...86_400),
            refreshAbsoluteSeconds: try r.int("refresh.absolute_lifetime_seconds", in: 60...31_536_000),
            refreshIdleSeconds: try r.int("refresh.idle_lifetime_seconds", in: 60...31_536_000),
            refreshReuseGraceSeconds: try r.int("refresh.reuse_grace_seconds", in: 0...300)
        )
        let parallelism = try r.int("argon2.parallelism", in: 1...16)
        argon2 = Argon2(
            parameters: Argon2Parameters(
                memoryKiB: try r.int("argon2.memory_kib", in: (8 * parallelism)...4_194_304),
                iterations: try r.int("argon2.iterations", in: 1...64),
                parallelism: parallelism
            ),
            threads: try r.int("argon2.threads", in: 0...cores).nonZero ?? cores,
            queueLimit: try r.int("argon2.queue_limit", in: 1...100_000)
        )
        keys = Keys(
            algorithm: try r.value("keys.algorithm") { text in
                guard let algorithm = SigningAlgorithm(rawValue: text) else {
                    throw SettingProblem("must be one of \(SigningAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return algorithm
            },
            rotationIntervalSeconds: try r.int("keys.rotation_interval_seconds", in: 3600...31_536_000),
            reloadIntervalSeconds: try r.int("keys.reload_interval_seconds", in: 1...3600),
            jwksMaxAgeSeconds: try r.int("keys.jwks_max_age_seconds", in: 0...86_400)
        )
        leewaySeconds = try r.int("access_token.leeway_seconds", in: 0...300)
        cacheRefreshSeconds = try r.int("cache.refresh_interval_seconds", in: 1...86_400)
        lockout = Lockout(
            threshold: try r.int("login.lockout_threshold", in: 1...1000),
            accountThreshold: try r.int("login.lockout_account_threshold", in: 1...100_000),
            baseSeconds: try r.int("login.lockout_base_seconds", in: 1...3600),
            maximumSeconds: try r.int("login.lockout_max_seconds", in: 1...86_400))
        rateLimits = RateLimits(
            requestsPerSecond: Double(try r.int("rate_limit.requests_per_second", in: 1...1_000_000)),
            burst: try r.int("rate_limit.burst", in: 1...1_000_000),
            failedLoginBurst: try r.int("rate_limit.failed_login_burst", in: 1...100_000),
            failedLoginRefillSeconds: try r.int("rate_limit.failed_login_refill_seconds", in: 1...86_400),
            trustedProxyHeader: try r.value("rate_limit.trusted_proxy_header") { text in
                guard text == "none" || text.range(of: "^[A-Za-z][A-Za-z0-9-]{0,63}$", options: .regularExpression) != nil else {
                    throw SettingProblem("must be a header name such as X-Forwarded-For, or none")
                }
                return text == "none" ? nil : text
            },
            trustedProxies: try r.networks("rate_limit.trusted_proxies"),
            maximumTrackedAddresses: try r.int("rate_limit.max_tracked_addresses", in: 100...10_000_000))
        if rateLimits.trustedProxyHeader != nil && rateLimits.trustedProxies.isEmpty {
            throw SettingsError(
                setting: "rate_limit.trusted_proxies", environmentVariable: "SIGNET_RATE_LIMIT_TRUSTED_PROXIES",
                problem: "must list the proxies (CIDRs) allowed to set rate_limit.trusted_proxy_header")
        }
        http = HTTP(
            publicBodyLimit: try r.int("http.public_body_limit_bytes", in: 1024...10_485_760),
            adminBodyLimit: try r.int("http.admin_body_limit_bytes", in: 1024...10_485_760),
            shutdownGraceSeconds: try r.int("http.shutdown_grace_seconds", in: 0...600),
            requestTimeoutSeconds: try r.int("http.request_timeout_seconds", in: 1...600),
            idleTimeoutSeconds: try r.int("http.idle_timeout_seconds", in: 1...3600),
            readTimeoutSeconds: try r.int("http.read_timeout_seconds", in: 1...600),
            maximumConnections: try r.int("http.max_connections", in: 1...1_000_000))
        retention = Retention(
            auditDays: try r.int("retention.audit_days", in: 1...36_500),
            endedSessionDays: try r.int("retention.ended_session_days", in: 1...3650),
            intervalSeconds: try r.int("retention.interval_seconds", in: 60...86_400))
        browser = BrowserSignIn(
            sessionIdleSeconds: try r.int("browser_session.idle_lifetime_seconds", in: 60...31_536_000),
            sessionAbsoluteSeconds: try r.int("browser_session.absolute_lifetime_seconds", in: 60...31_536_000),
            codeLifetimeSeconds: try r.int("authorization_code.lifetime_seconds", in: 1...60),
            templatesDirectory: try r.value("login.templates_dir") { text in
                if text == "none" { return nil }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: text, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw SettingProblem("must be a directory of .mustache templates, or none")
                }
                return text
            })
        mfaRequiredRoles = try r.value("mfa.required_roles") { text in
            if text == "none" { return [] }
            let roles = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            do {
                return try UserAccounts.validRoles(roles)
            } catch {
                throw SettingProblem("must be role names separated by commas, or none")
            }
        }
        adminAudience = try r.value("admin.audience") { text in
            guard !text.isEmpty, text.utf8.count <= 256, !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " })
            else { throw SettingProblem("must be 1-256 characters without spaces or control characters") }
            return text
        }
        masterKeyFile = try r.string("master_key_file")
        masterKey = reader.string(forKey: "master_key", isSecret: true)
        guard keys.jwksMaxAgeSeconds < keys.rotationIntervalSeconds else {
            throw SettingsError(
                setting: "keys.jwks_max_age_seconds", environmentVariable: "SIGNET_KEYS_JWKS_MAX_AGE_SECONDS",
                problem: "must be shorter than keys.rotation_interval_seconds, or gateways miss the next key")
        }
        logLevel = try r.value("log.level") { text in
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(text) else { throw SettingProblem("must be one of \(levels.joined(separator: ", "))") }
            return text
        }
        logFormat = try r.value("log.format") { text in
            guard ["text", "json"].contains(text) else { throw SettingProblem("must be text or json") }
            return text
        }
    }

    /// The issuer as it appears in `iss` and in endpoint URLs: no trailing slash.
    public var issuerString: String {
        let text = issuer.absoluteString
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// The environment variable that overrides a dotted setting path: `database.url` → `SIGNET_DATABASE_URL`.
    public static func environmentVariable(for key: String) -> String {
        "SIGNET_" + key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }
}

extension Settings {
    /// The reader Signet runs with: `SIGNET_*` environment, then the JSON file (if any), then defaults.
    ///
    /// - Parameters:
    ///   - configFile: path of the JSON settings file; when `nil`, `Config/signet.json` is used if it exists.
    ///   - environment: the process environment (injectable for tests).
    public static func reader(
        configFile: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(SettingsError) -> ConfigReader {
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "signet")
        ]
        let path = configFile ?? environment["SIGNET_CONFIG_FILE"] ?? "Config/signet.json"
        let mustExist = configFile != nil || environment["SIGNET_CONFIG_FILE"] != nil
        if mustExist || FileManager.default.fileExists(atPath: path) {
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: .init(path)))
            } catch {
                throw SettingsError(setting: "config file", environmentVariable: "SIGNET_CONFIG_FILE",
                                    problem: "cannot read \(path): \(error)")
            }
        }
        providers.append(defaultsProvider)
        return ConfigReader(providers: providers)
    }

    /// The built-in defaults as a provider, last in every reader's chain.
    public static var defaultsProvider: InMemoryProvider {
        InMemoryProvider(
            name: "defaults",
            values: Dictionary(uniqueKeysWithValues: defaults.map { (AbsoluteConfigKey($0.key.split(separator: ".").map(String.init)), $0.value) })
        )
    }
}

/// Why a single value was refused; wrapped into a ``SettingsError`` by ``SettingReader``.
struct SettingProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Reads required values and turns every failure into a ``SettingsError`` naming the setting.
private struct SettingReader {
    let reader: ConfigReader

    func value<T>(_ key: String, parse: (String) throws -> T) throws(SettingsError) -> T {
        let text = try raw(key) { try reader.requiredString(forKey: ConfigKey(key.split(separator: ".").map(String.init))) }
        do {
            return try parse(text)
        } catch let problem as SettingProblem {
            throw error(key, problem.message)
        } catch {
            throw self.error(key, "\(error)")
        }
    }

    func string(_ key: String) throws(SettingsError) -> String {
        try value(key) { text in
            guard !text.isEmpty else { throw SettingProblem("must not be empty") }
            return text
        }
    }

    /// A comma-separated list of CIDRs, `none` or empty for none; each parsed strictly.
    func networks(_ key: String) throws(SettingsError) -> [IPNetwork] {
        try value(key) { text in
            do { return try IPNetwork.list(text) } catch let error as IPNetwork.ParseError { throw SettingProblem(error.description) }
        }
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(SettingsError) -> Int {
        let number = try raw(key) { try reader.requiredInt(forKey: ConfigKey(key.split(separator: ".").map(String.init))) }
        guard range.contains(number) else {
            throw error(key, "\(number) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    private func raw<T>(_ key: String, _ read: () throws -> T) throws(SettingsError) -> T {
        do {
            return try read()
        } catch {
            throw self.error(key, "not a valid \(T.self == Int.self ? "integer" : "string")")
        }
    }

    private func error(_ key: String, _ problem: String) -> SettingsError {
        SettingsError(setting: key, environmentVariable: Settings.environmentVariable(for: key), problem: problem)
    }
}

extension Int {
    fileprivate var nonZero: Int? { self == 0 ? nil : self }
}
