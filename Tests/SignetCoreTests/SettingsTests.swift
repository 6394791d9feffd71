import Configuration
import Foundation
import SignetCore
import SignetTestSupport
import Testing

@Suite("Settings", .timeLimit(.minutes(2)))
struct SettingsTests {
    static let configFile = TestDatabase.packageRoot + "/Config/signet.json"

    @Test func defaultsMatchTheContract() throws {
        let settings = try Settings(reader: ConfigReader(provider: Settings.defaultsProvider))
        #expect(settings.publicListener == .init(host: "0.0.0.0", port: 8080))
        #expect(settings.adminListener == .init(host: "127.0.0.1", port: 8081))
        #expect(settings.issuer.absoluteString == "http://localhost:8080")
        #expect(settings.lifetimes.accessTokenSeconds == 600)
        #expect(settings.lifetimes.refreshAbsoluteSeconds == 30 * 86_400)
        #expect(settings.argon2.parameters == .recommended)
        #expect(settings.argon2.threads <= ProcessInfo.processInfo.activeProcessorCount)
    }

    @Test func configFileHoldsEverySettingWithItsDefault() async throws {
        let file = try await FileProvider<JSONSnapshot>(filePath: .init(Self.configFile))
        let fromFile = try Settings(reader: ConfigReader(provider: file))
        let fromDefaults = try Settings(reader: ConfigReader(provider: Settings.defaultsProvider))
        #expect(fromFile == fromDefaults)
    }

    @Test func environmentOverridesTheFile() async throws {
        let reader = try await Settings.reader(configFile: Self.configFile, environment: [
            "SIGNET_DATABASE_URL": "postgres://app:pw@db.internal:6543/idp",
            "SIGNET_PUBLIC_HOST": "127.0.0.1",
            "SIGNET_PUBLIC_PORT": "9090",
            "SIGNET_ADMIN_HOST": "127.0.0.2",
            "SIGNET_ADMIN_PORT": "9091",
            "SIGNET_ISSUER": "https://id.example.com",
            "SIGNET_MASTER_KEY_FILE": "/run/secrets/signet-master",
            "SIGNET_ARGON2_MEMORY_KIB": "47104",
            "SIGNET_REFRESH_REUSE_GRACE_SECONDS": "0",
        ])
        let settings = try Settings(reader: reader)
        #expect(settings.database.url.host == "db.internal")
        #expect(settings.database.url.port == 6543)
        #expect(settings.database.url.database == "idp")
        #expect(settings.publicListener == .init(host: "127.0.0.1", port: 9090))
        #expect(settings.adminListener == .init(host: "127.0.0.2", port: 9091))
        #expect(settings.issuer.absoluteString == "https://id.example.com")
        #expect(settings.masterKeyFile == "/run/secrets/signet-master")
        #expect(settings.argon2.parameters.memoryKiB == 47_104)
        #expect(settings.lifetimes.refreshReuseGraceSeconds == 0)
    }

    @Test(arguments: [
        ("SIGNET_PUBLIC_PORT", "eighty", "public.port"),
        ("SIGNET_PUBLIC_PORT", "70000", "public.port"),
        ("SIGNET_ADMIN_PORT", "-1", "admin.port"),
        ("SIGNET_DATABASE_URL", "mysql://x@y/z", "database.url"),
        ("SIGNET_DATABASE_URL", "postgres://host-only", "database.url"),
        ("SIGNET_DATABASE_POOL_SIZE", "0", "database.pool_size"),
        ("SIGNET_ISSUER", "not a url", "issuer"),
        ("SIGNET_ISSUER", "http://localhost:8080/?x=1", "issuer"),
        ("SIGNET_ACCESS_TOKEN_LIFETIME_SECONDS", "1", "access_token.lifetime_seconds"),
        ("SIGNET_ARGON2_ITERATIONS", "0", "argon2.iterations"),
        ("SIGNET_LOG_LEVEL", "chatty", "log.level"),
        ("SIGNET_DATABASE_SCHEMA", "Robert'); DROP", "database.schema"),
        ("SIGNET_LOGIN_TEMPLATES_DIR", "/nonexistent/templates", "login.templates_dir"),
        ("SIGNET_AUTHORIZATION_CODE_LIFETIME_SECONDS", "61", "authorization_code.lifetime_seconds"),
        ("SIGNET_MFA_REQUIRED_ROLES", "admin, bad role", "mfa.required_roles"),
        ("SIGNET_PUBLIC_ALLOWED_NETWORKS", "10.0.0.1/8", "public.allowed_networks"),
        ("SIGNET_ADMIN_ALLOWED_NETWORKS", "127.0.0.0/8, localhost", "admin.allowed_networks"),
    ])
    func badValueStopsStartUpNamingTheSetting(variable: String, value: String, setting: String) async throws {
        let reader = try await Settings.reader(configFile: Self.configFile, environment: [variable: value])
        do {
            _ = try Settings(reader: reader)
            Issue.record("\(variable)=\(value) should be refused")
        } catch {
            #expect(error.setting == setting)
            #expect(error.description.contains(variable))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func missingExplicitConfigFileIsAnError() async throws {
        await #expect(throws: SettingsError.self) {
            _ = try await Settings.reader(configFile: "/nonexistent/signet.json", environment: [:])
        }
    }

    @Test func contractEnvironmentVariablesExist() {
        let variables = Set(Settings.defaults.keys.map(Settings.environmentVariable(for:)))
        for name in ["SIGNET_DATABASE_URL", "SIGNET_PUBLIC_HOST", "SIGNET_PUBLIC_PORT", "SIGNET_ADMIN_HOST",
                     "SIGNET_ADMIN_PORT", "SIGNET_ISSUER", "SIGNET_MASTER_KEY_FILE", "SIGNET_REFRESH_REUSE_GRACE_SECONDS"] {
            #expect(variables.contains(name), "\(name)")
        }
    }

    @Test func databaseURLNeverShowsItsPassword() throws {
        let url = try DatabaseURL(string: "postgres://signet:s3cr%40t@db:5433/signet?sslmode=require")
        #expect(url.password == "s3cr@t")
        #expect(url.description == "postgres://signet:***@db:5433/signet")
        #expect(url.tlsMode == .require)
    }

    /// The README's configuration table is the third copy of the defaults: every setting appears in
    /// it, on a row that also shows its default.
    @Test func theReadmeDocumentsEverySettingWithItsDefault() throws {
        let readme = try String(contentsOfFile: TestDatabase.packageRoot + "/README.md", encoding: .utf8)
        let rows = readme.split(separator: "\n").filter { $0.hasPrefix("| `") }
        for (key, value) in Settings.defaults {
            let text: String = switch value.content {
            case .string(let string): string
            case .int(let int): String(int)
            default: "\(value)"
            }
            let row = rows.first { $0.contains("`\(key)`") }
            #expect(row != nil, "README lacks \(key)")
            #expect(row?.contains("`\(text)`") == true, "README's row for \(key) lacks its default \(text)")
        }
    }
}
