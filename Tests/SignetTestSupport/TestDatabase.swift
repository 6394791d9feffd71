import Configuration
import Foundation
import Logging
import PostgresNIO
import SignetCore
import Synchronization

/// A private schema in the test PostgreSQL for each test, so Swift Testing's parallel tests never
/// see each other's rows. `scripts/test.sh` points `SIGNET_TEST_DATABASE_URL` at a throwaway cluster.
public enum TestDatabase {
    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String {
            "SIGNET_TEST_DATABASE_URL is not set: run the suite through scripts/test.sh, or point it at a PostgreSQL database"
        }
    }

    public static var url: DatabaseURL {
        get throws {
            guard let text = ProcessInfo.processInfo.environment["SIGNET_TEST_DATABASE_URL"] else { throw NotConfigured() }
            return try DatabaseURL(string: text)
        }
    }

    public static let logger: Logger = {
        var logger = Logger(label: "signet-test")
        logger.logLevel = .warning
        return logger
    }()

    /// The repository's `Migrations/` directory.
    public static let migrationsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Migrations").path

    /// The repository root.
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Creates an empty schema, runs `body` with its name, then drops it.
    public static func withSchema<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try await admin("CREATE SCHEMA \(schema)")
        do {
            let result = try await body(schema)
            try await admin("DROP SCHEMA \(schema) CASCADE")
            return result
        } catch {
            try? await admin("DROP SCHEMA \(schema) CASCADE")
            throw error
        }
    }

    /// A running pool on a fresh schema, migrated unless `migrated` is false.
    public static func withDatabase<T: Sendable>(
        migrated: Bool = true, poolSize: Int = 4, _ body: @Sendable (Database) async throws -> T
    ) async throws -> T {
        let url = try self.url
        return try await withSchema { schema in
            let database = Database(url: url, poolSize: poolSize, connectTimeout: .seconds(5), searchPath: schema, logger: logger)
            return try await database.whileRunning {
                if migrated {
                    _ = try await Migrator(database: database).migrate(try Migration.load(from: migrationsDirectory))
                }
                return try await body(database)
            }
        }
    }

    /// The first column of `sql`'s rows in `schema` (one a command-line test migrated), as integers.
    public static func integers(_ sql: String, in schema: String) async throws -> [Int] {
        let database = Database(url: try url, poolSize: 1, connectTimeout: .seconds(5), searchPath: schema, logger: logger)
        return try await database.whileRunning { try await database.column(PostgresQuery(unsafeSQL: sql), as: Int.self) }
    }

    /// Runs one statement outside any test schema. Lock and statement timeouts bound it: a schema
    /// drop that waits on a lock a failed test left behind must fail, not hang the run.
    public static func admin(_ sql: String) async throws {
        var configuration = try url.connectionConfiguration(connectTimeout: .seconds(5))
        configuration.options.additionalStartupParameters.append(("options", "-c lock_timeout=10s -c statement_timeout=60s"))
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A reader with test-friendly settings on `schema`: ephemeral ports, cheap Argon2.
    public static func reader(schema: String, overrides: [String: ConfigValue] = [:]) throws -> ConfigReader {
        var values: [String: ConfigValue] = [
            "database.url": ConfigValue(.string(try rawURL), isSecret: false),
            "database.schema": ConfigValue(.string(schema), isSecret: false),
            "database.pool_size": 4,
            "public.host": "127.0.0.1",
            "public.port": 0,
            "admin.port": 0,
            "argon2.memory_kib": 1024,
            "argon2.iterations": 1,
            "log.level": "warning",
            "master_key": ConfigValue(.string(testMasterKey), isSecret: true),
        ]
        values.merge(overrides) { $1 }
        let provider = InMemoryProvider(
            name: "test",
            values: Dictionary(uniqueKeysWithValues: values.map { (AbsoluteConfigKey($0.key.split(separator: ".").map(String.init)), $0.value) }))
        return ConfigReader(providers: [provider, Settings.defaultsProvider])
    }

    static var rawURL: String {
        get throws {
            guard let text = ProcessInfo.processInfo.environment["SIGNET_TEST_DATABASE_URL"] else { throw NotConfigured() }
            return text
        }
    }

    /// A master key for tests (random per process).
    public static let testMasterKey: String = {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<32).map { _ in generator.next() as UInt8 }).base64EncodedString()
    }()

    /// Cheap Argon2 parameters for tests that are not about hashing cost.
    public static let fastArgon2 = Argon2Parameters(memoryKiB: 1024, iterations: 1, parallelism: 1)
}

extension Database {
    /// The first column of every row of `query`, for assertions.
    public func column<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> [T] {
        var values: [T] = []
        for try await value in try await client.query(query, logger: logger).decode(T.self) { values.append(value) }
        return values
    }
}

/// Signet's token services on a fresh, migrated schema, plus the reader that builds an application
/// on the same schema and master key, for tests that seed data and then drive HTTP.
public struct TestServices: Sendable {
    public let services: TokenServices
    public let reader: ConfigReader
    /// The unused recovery codes of the admin of ``adminToken(client:)``.
    let adminCodes = RecoveryCodeWallet()
    public var settings: Settings { services.environment.settings }
    public var database: Database { services.environment.database }

    /// Runs `body` with services on a fresh schema; `overrides` change settings (dotted keys).
    public static func with<T: Sendable>(
        overrides: [String: ConfigValue] = [:], logger: Logger = TestDatabase.logger, metrics: SignetMetrics = .none,
        _ body: @Sendable (TestServices) async throws -> T
    ) async throws -> T {
        try await TestDatabase.withSchema { schema in
            let reader = try TestDatabase.reader(schema: schema, overrides: overrides)
            let settings = try Settings(reader: reader)
            let database = Database(
                url: settings.database.url, poolSize: 4, connectTimeout: .seconds(5), searchPath: schema, logger: logger)
            let environment = try SignetEnvironment(settings: settings, database: database, logger: logger, metrics: metrics)
            let services = try TokenServices(environment: environment)
            let result: Result<T, any Error>
            do {
                result = .success(try await database.whileRunning {
                    _ = try await Migrator(database: database).migrate(try Migration.load(from: TestDatabase.migrationsDirectory))
                    return try await body(TestServices(services: services, reader: reader))
                })
            } catch {
                result = .failure(error)
            }
            // Also when the body failed: a failing test must not leave its hashing threads behind.
            try? await environment.hasher.shutdown()
            return try result.get()
        }
    }

    /// Creates a user with the given password and roles.
    @discardableResult
    public func user(_ name: String, password: String = "correct horse battery", roles: [String] = []) async throws -> User {
        try await services.environment.users.create(.init(username: name, password: password, roles: roles))
    }

    /// Registers a client; returns its secret (nil for public clients).
    @discardableResult
    public func client(
        _ id: String, method: ClientAuthMethod = .clientSecretBasic,
        grants: [GrantType] = [.password, .refreshToken], scopes: [String] = ["openid", "profile", "api"],
        audience: String? = nil
    ) async throws -> String? {
        try await services.clients.register(
            .init(clientID: id, authMethod: method, grantTypes: grants, scopes: scopes, audience: audience),
            lifetimes: settings.lifetimes
        ).secret
    }
}

extension TestServices {
    /// Logs in through the password grant directly (no HTTP), as client `clientID`.
    public func login(
        _ username: String, password: String = "correct horse battery", totp: String? = nil, client clientID: String,
        scope: String? = nil
    ) async throws -> TokenResponse {
        guard let client = try await services.clients.store.find(clientID: clientID)?.client else { throw SignetError.clientNotFound }
        return try await services.grants.password(
            client: client, username: username, password: password, totp: totp, scope: scope, source: "192.0.2.1",
            origin: RequestOrigin())
    }

    /// Gives `username` TOTP as `signet users enrol-totp` does; the secret and recovery codes.
    public func enrolTOTP(_ username: String) async throws -> (secret: [UInt8], recoveryCodes: [String]) {
        guard let user = try await services.environment.users.store.find(username: try Username(username)),
              let enrolled = try await services.secondFactor.enrolDirectly(userID: user.id, origin: .commandLine)
        else { throw SignetError.userNotFound }
        return enrolled
    }

    /// The test admin (see ``adminToken(client:)``) logged in through `clientID` with one of its recovery codes.
    public func adminLogin(client clientID: String = "admin-cli") async throws -> TokenResponse {
        _ = try await adminToken(client: "admin-cli")
        return try await login("root", totp: adminCodes.take(), client: clientID)
    }

    /// An admin user and a fresh access token for the admin API (through a client registered with
    /// the admin audience, as the README's `admin-cli`). The admin role requires a second factor
    /// by default, so the admin is enrolled as `signet users enrol-totp` does and each login spends
    /// one of its recovery codes (TOTP codes would allow only one login per 30 s).
    public func adminToken(client clientID: String = "admin-cli") async throws -> String {
        if try await services.clients.store.find(clientID: clientID) == nil {
            try await client(clientID, grants: [.password, .refreshToken], audience: settings.adminAudience)
        }
        if try await services.environment.users.store.find(username: try Username("root")) == nil {
            try await user("root", roles: ["admin"])
            adminCodes.fill(try await enrolTOTP("root").recoveryCodes)
        }
        return try await login("root", totp: adminCodes.take(), client: clientID).accessToken
    }
}

/// Recovery codes to spend one at a time (the test admin's).
final class RecoveryCodeWallet: Sendable {
    private let codes = Mutex<[String]>([])

    func fill(_ new: [String]) { codes.withLock { $0 = new } }

    func take() -> String? { codes.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
}

/// n and e of a DER-encoded PKCS#1 RSAPublicKey (`SEQUENCE { INTEGER n, INTEGER e }`), for
/// writing a test key as a JWK.
public func rsaModulusAndExponent(der: [UInt8]) -> ([UInt8], [UInt8])? {
    var index = 0
    func length() -> Int? {
        guard index < der.count else { return nil }
        let first = Int(der[index])
        index += 1
        if first < 0x80 { return first }
        var value = 0
        for _ in 0..<(first & 0x7F) where index < der.count {
            value = value << 8 | Int(der[index])
            index += 1
        }
        return value
    }
    func integer() -> [UInt8]? {
        guard index < der.count, der[index] == 0x02 else { return nil }
        index += 1
        guard let count = length(), index + count <= der.count else { return nil }
        defer { index += count }
        return Array(der[index..<index + count].drop { $0 == 0 })
    }
    guard der.first == 0x30 else { return nil }
    index = 1
    _ = length()
    guard let n = integer(), let e = integer() else { return nil }
    return (n, e)
}
