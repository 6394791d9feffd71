import Crypto
import Foundation
import SignetCore
import Synchronization
import SignetTestSupport
import Testing

/// Drives the built `signet` executable the way an operator does.
@Suite("signet command line", .timeLimit(.minutes(3)))
struct CLITests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["SIGNET_BIN"] { return path }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("signet").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return TestDatabase.packageRoot + "/.build/debug/signet"
    }

    /// Runs `signet` with `arguments` and waits for it, at most `timeout`: a command that hangs is
    /// killed and fails the test instead of hanging the run. Output is collected as it arrives
    /// (no blocking reads), so a full pipe cannot deadlock it either.
    static func run(
        _ arguments: [String], stdin: String? = nil, environment: [String: String], timeout: Duration = .seconds(60)
    ) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: TestDatabase.packageRoot)
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SIGNET_") }
        env.merge(environment) { $1 }
        process.environment = env
        let input = Pipe()
        let output = OutputCollector(), errors = OutputCollector()
        process.standardInput = input
        process.standardOutput = output.pipe
        process.standardError = errors.pipe
        let (exited, exit) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in exit.finish() }
        try process.run()
        let pid = process.processIdentifier
        defer { if process.isRunning { kill(pid, SIGKILL) } }
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in exited {}
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
        guard finished else {
            kill(pid, SIGKILL)
            throw CommandTimedOut(arguments: arguments, stderr: errors.current)
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: output.text(), stderr: errors.text())
    }

    struct CommandTimedOut: Error, CustomStringConvertible {
        var arguments: [String]
        var stderr: String
        var description: String { "signet \(arguments.joined(separator: " ")) did not finish in time; it wrote: \(stderr.suffix(2000))" }
    }

    static func environment(schema: String) throws -> [String: String] {
        [
            "SIGNET_DATABASE_URL": ProcessInfo.processInfo.environment["SIGNET_TEST_DATABASE_URL"] ?? "",
            "SIGNET_DATABASE_SCHEMA": schema,
            "SIGNET_ARGON2_MEMORY_KIB": "1024",
            "SIGNET_ARGON2_ITERATIONS": "1",
            "SIGNET_MASTER_KEY": TestDatabase.testMasterKey,
        ]
    }

    @Test func clientsCreateShowsTheSecretOnceAndKeysRotate() async throws {
        _ = try TestDatabase.url
        try await TestDatabase.withSchema { schema in
            let env = try Self.environment(schema: schema)
            #expect(try await Self.run(["migrate"], environment: env).status == 0)
            let created = try await Self.run(
                ["clients", "create", "web-app", "--grant", "password", "--grant", "refresh_token", "--scope", "openid", "--scope", "api"],
                environment: env)
            #expect(created.status == 0, "\(created.stderr)")
            let lines = Dictionary(uniqueKeysWithValues: created.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: ":", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces)) : nil
            })
            #expect(lines["client_id"] == "web-app")
            #expect(lines["token_endpoint_auth_method"] == "client_secret_basic")
            #expect(lines["grant_types"] == "password refresh_token")
            #expect(lines["scope"] == "openid api")
            let secret = try #require(lines["client_secret"])
            #expect(secret.count >= 43)

            let publicClient = try await Self.run(["clients", "create", "spa", "--public", "--grant", "password"], environment: env)
            #expect(publicClient.status == 0)
            #expect(!publicClient.stdout.contains("client_secret"))
            #expect(publicClient.stdout.contains("token_endpoint_auth_method: none"))

            let duplicate = try await Self.run(["clients", "create", "web-app", "--grant", "password"], environment: env)
            #expect(duplicate.stderr == "Error: a client with that client_id already exists\n")
            let noGrant = try await Self.run(["clients", "create", "x"], environment: env)
            #expect(noGrant.status != 0)
            let publicMachine = try await Self.run(["clients", "create", "m", "--public", "--grant", "client_credentials"], environment: env)
            #expect(publicMachine.status != 0)
            #expect(publicMachine.stderr.contains("client_credentials"))

            let fenced = try await Self.run(
                ["clients", "create", "fenced", "--grant", "client_credentials", "--allow-network", "10.20.0.0/16",
                 "--allow-network", "2001:db8::1", "--require-mfa"], environment: env)
            #expect(fenced.status == 0, "\(fenced.stderr)")
            #expect(fenced.stdout.contains("allowed_networks: 10.20.0.0/16 2001:db8::1/128\n") && fenced.stdout.contains("require_mfa: true"))
            let jwksFile = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json")
            let point = P256.KeyAgreement.PrivateKey().publicKey.x963Representation
            try Data(#"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(Data(point[1..<33]).base64URLEncodedString())","y":"\#(Data(point[33..<65]).base64URLEncodedString())"}]}"#.utf8)
                .write(to: jwksFile)
            defer { try? FileManager.default.removeItem(at: jwksFile) }
            let encrypted = try await Self.run(
                ["clients", "create", "sealed", "--grant", "client_credentials", "--jwks-file", jwksFile.path,
                 "--access-token-encryption", "ECDH-ES+A256KW", "--dpop-bound"], environment: env)
            #expect(encrypted.status == 0, "\(encrypted.stderr)")
            #expect(encrypted.stdout.contains("access_token_encrypted_response: ECDH-ES+A256KW A256GCM\n")
                && encrypted.stdout.contains("dpop_bound_access_tokens: true"))
            let wrongKey = try await Self.run(
                ["clients", "create", "unsealed", "--grant", "client_credentials", "--jwks-file", jwksFile.path,
                 "--access-token-encryption", "RSA-OAEP-256"], environment: env)
            #expect(wrongKey.status != 0 && wrongKey.stderr.contains("RSA-OAEP-256") && wrongKey.stderr.split(separator: "\n").count == 1)
            let sloppy = try await Self.run(["clients", "create", "sloppy", "--grant", "client_credentials", "--allow-network", "10.20.0.1/16"], environment: env)
            #expect(sloppy.status != 0 && sloppy.stderr.hasPrefix("Error: invalid allowed_networks: \"10.20.0.1/16\" is not a CIDR network") && sloppy.stderr.split(separator: "\n").count == 1)

            // A web application for browser sign-in; its ID-token keys (RS256) are made with it.
            let web = try await Self.run(
                ["clients", "create", "wiki", "--grant", "authorization_code", "--redirect-uri", "https://wiki.example/cb",
                 "--post-logout-redirect-uri", "https://wiki.example/", "--skip-consent", "--name", "The Wiki"], environment: env)
            #expect(web.status == 0, "\(web.stderr)")
            #expect(web.stdout.contains("redirect_uris: https://wiki.example/cb") && web.stdout.contains("skip_consent: true")
                    && web.stdout.contains("require_pkce: true"))
            let rsaKeys = try await TestDatabase.integers("SELECT count(*)::int FROM signing_keys WHERE alg = 'RS256'", in: schema)
            #expect(rsaKeys == [2], "a current and a next RS256 key, published before any ID token")
            let noRedirect = try await Self.run(["clients", "create", "wiki2", "--grant", "authorization_code"], environment: env)
            #expect(noRedirect.status != 0 && noRedirect.stderr.contains("redirect_uris"))
            let plainHTTP = try await Self.run(
                ["clients", "create", "wiki3", "--grant", "authorization_code", "--redirect-uri", "http://wiki.example/cb"], environment: env)
            #expect(plainHTTP.status != 0 && plainHTTP.stderr.contains("https"))
            let publicNoPKCE = try await Self.run(
                ["clients", "create", "spa2", "--public", "--grant", "authorization_code", "--redirect-uri", "http://127.0.0.1:9/cb",
                 "--no-require-pkce"], environment: env)
            #expect(publicNoPKCE.status != 0 && publicNoPKCE.stderr.contains("require_pkce"))

            let refused = try await Self.run(["keys", "rotate"], environment: env)
            #expect(refused.status != 0, "a next key created just now is too new to promote")
            #expect(refused.stderr.contains("--force"))
            let rotated = try await Self.run(["keys", "rotate", "--force"], environment: env)
            #expect(rotated.status == 0, "\(rotated.stderr)")
            #expect(rotated.stdout.hasPrefix("current: ") && rotated.stdout.contains("\nnext: "))
            let retiredRSA = try await TestDatabase.integers("SELECT count(*)::int FROM signing_keys WHERE alg = 'RS256' AND state = 'retired'", in: schema)
            #expect(retiredRSA == [1], "the ID tokens' keys rotate with the access tokens'")

            let missingKey = try await Self.run(["keys", "rotate"], environment: env.filter { $0.key != "SIGNET_MASTER_KEY" }.merging(
                ["SIGNET_MASTER_KEY_FILE": "/nonexistent/master.key"]) { $1 })
            #expect(missingKey.status != 0)
            #expect(missingKey.stderr.contains("/nonexistent/master.key"))
            #expect(missingKey.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func usersCreateThenListThroughTheExecutable() async throws {
        _ = try TestDatabase.url
        try await TestDatabase.withSchema { schema in
            let env = try Self.environment(schema: schema)
            let migrate = try await Self.run(["migrate"], environment: env)
            #expect(migrate.status == 0, "\(migrate.stderr)")
            #expect(migrate.stdout.contains("applied 0001_init.sql"))

            let again = try await Self.run(["migrate"], environment: env)
            #expect(again.status == 0)
            #expect(again.stdout.contains("up to date"))

            let create = try await Self.run(
                ["users", "create", "Root", "--role", "admin", "--email", "root@example.com", "--password-stdin"],
                stdin: "root password 1\n", environment: env)
            #expect(create.status == 0, "\(create.stderr)")
            #expect(create.stdout.hasPrefix("created user root ("))
            #expect(!create.stdout.contains("root password 1") && !create.stderr.contains("root password 1"))

            let list = try await Self.run(["users", "list"], environment: env)
            #expect(list.status == 0)
            let rows = list.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
            #expect(rows.count == 2)
            #expect(rows.last?.dropFirst().map { $0 } == ["root", "root@example.com", "admin", "false"])

            let duplicate = try await Self.run(["users", "create", "ROOT", "--password-stdin"], stdin: "other password\n", environment: env)
            #expect(duplicate.status != 0)
            #expect(duplicate.stderr == "Error: a user with that username already exists\n")

            let disable = try await Self.run(["users", "disable", "root"], environment: env)
            #expect(disable.status == 0)
            let listed = try await Self.run(["users", "list"], environment: env)
            #expect(listed.stdout.hasSuffix("\tadmin\ttrue\n"))

            let setPassword = try await Self.run(["users", "set-password", "nobody", "--password-stdin"], stdin: "a new password\n", environment: env)
            #expect(setPassword.status != 0)
            #expect(setPassword.stderr == "Error: no such user\n")

            // A second factor without a browser, shown once; then reset.
            let enrol = try await Self.run(["users", "enrol-totp", "root"], environment: env)
            #expect(enrol.status == 0, "\(enrol.stderr)")
            let lines = Dictionary(enrol.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }) { first, _ in first }
            let secret = try #require(lines["secret"])
            #expect(Base32.decode(secret)?.count == 20)
            #expect(lines["otpauth_uri"]?.hasPrefix("otpauth://totp/") == true && lines["otpauth_uri"]?.contains("secret=\(secret)") == true)
            #expect(lines["recovery_codes"]?.split(separator: " ").count == 10)
            let twice = try await Self.run(["users", "enrol-totp", "root"], environment: env)
            #expect(twice.status != 0 && twice.stderr.contains("already has TOTP") && !twice.stdout.contains(secret))
            let reset = try await Self.run(["users", "reset-mfa", "root"], environment: env)
            #expect(reset.status == 0 && reset.stdout.contains("second factor reset for root"))
            let unknown = try await Self.run(["users", "reset-mfa", "nobody"], environment: env)
            #expect(unknown.status != 0 && unknown.stderr == "Error: no such user\n")

            let weak = try await Self.run(["users", "create", "weak", "--password-stdin"], stdin: "short\n", environment: env)
            #expect(weak.status != 0)
            #expect(weak.stderr.contains("password"))
            #expect(weak.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func unreachableDatabaseIsOneLineNamingTheURLWithoutItsPassword() async throws {
        let result = try await Self.run(["users", "list"], environment: [
            "SIGNET_DATABASE_URL": "postgres://signet:hunter2secret@127.0.0.1:1/signet",
            "SIGNET_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("postgres://signet:***@127.0.0.1:1/signet"))
        #expect(!result.stderr.contains("hunter2secret"))
    }

    @Test func benchHashReportsTheCeilingAtTheConfiguredParameters() async throws {
        let result = try await Self.run(["bench", "hash", "--seconds", "0.3"], environment: [
            "SIGNET_ARGON2_MEMORY_KIB": "1024", "SIGNET_ARGON2_ITERATIONS": "1", "SIGNET_ARGON2_THREADS": "1",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let fields = Dictionary(uniqueKeysWithValues: result.stdout.split(whereSeparator: \.isWhitespace).compactMap { pair in
            let parts = pair.split(separator: "=")
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        })
        #expect(fields["m"] == "1024" && fields["t"] == "1" && fields["p"] == "1" && fields["threads"] == "1")
        #expect((Double(fields["hashes_per_second"] ?? "") ?? 0) > 0)
    }

    /// `log.format=json`: one JSON object per line with level, label, message; SIGTERM stops
    /// the server cleanly.
    @Test func serveWritesJSONLogsAndStopsOnSIGTERM() async throws {
        _ = try TestDatabase.url
        try await TestDatabase.withSchema { schema in
            var env = try Self.environment(schema: schema)
            #expect(try await Self.run(["migrate"], environment: env).status == 0)
            env.merge(["SIGNET_LOG_FORMAT": "json", "SIGNET_PUBLIC_HOST": "127.0.0.1", "SIGNET_PUBLIC_PORT": "0",
                       "SIGNET_ADMIN_PORT": "0"]) { $1 }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.executable)
            process.arguments = ["serve"]
            process.currentDirectoryURL = URL(fileURLWithPath: TestDatabase.packageRoot)
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SIGNET_") }.merging(env) { $1 }
            let errors = OutputCollector()
            process.standardError = errors.pipe
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let pid = process.processIdentifier
            defer { if process.isRunning { kill(pid, SIGKILL) } }
            var text = ""
            for _ in 0..<100 where !text.contains("Server started") {
                try await Task.sleep(for: .milliseconds(100))
                text = errors.current
            }
            process.terminate()
            for _ in 0..<150 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!process.isRunning, "serve stops within the shutdown grace period")
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
            text = errors.text()
            #expect(process.terminationStatus == 0)
            let lines = text.split(separator: "\n").filter { !$0.isEmpty }
            #expect(!lines.isEmpty)
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["level"] is String && object?["message"] is String && object?["label"] as? String == "signet", "\(line)")
            }
        }
    }

    @Test func anotherMasterKeyIsRefusedBeforeAnyWriteAndServeDoesNotStart() async throws {
        _ = try TestDatabase.url
        try await TestDatabase.withSchema { schema in
            let env = try Self.environment(schema: schema)
            #expect(try await Self.run(["migrate"], environment: env).status == 0)
            #expect(try await Self.run(["clients", "create", "first", "--grant", "client_credentials"], environment: env).status == 0)
            var other = env
            other["SIGNET_MASTER_KEY"] = Data(repeating: 7, count: 32).base64EncodedString()
            let refused = try await Self.run(["clients", "create", "second", "--grant", "client_credentials"], environment: other)
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("the master key is not the one this database was set up with"), "\(refused.stderr)")
            other.merge(["SIGNET_PUBLIC_HOST": "127.0.0.1", "SIGNET_PUBLIC_PORT": "0", "SIGNET_ADMIN_PORT": "0"]) { $1 }
            let serve = try await Self.run(["serve"], environment: other, timeout: .seconds(30))
            #expect(serve.status != 0, "a node with another master key does not serve")
            #expect(serve.stderr.contains("master key"), "\(serve.stderr)")
            #expect(try await Self.run(["clients", "create", "third", "--grant", "client_credentials"], environment: env).status == 0)
        }
    }

    @Test func badSettingIsOneLineNamingIt() async throws {
        let result = try await Self.run(["migrate"], environment: ["SIGNET_PUBLIC_PORT": "eighty"])
        #expect(result.status != 0)
        #expect(result.stderr == "Error: invalid setting public.port (SIGNET_PUBLIC_PORT): not a valid integer\n")
    }

    @Test func passwordIsNeverAcceptedOnTheCommandLine() async throws {
        let result = try await Self.run(["users", "create", "someone"], environment: [:])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--password-stdin"))
    }

    @Test(arguments: [[], ["serve"], ["migrate"], ["users"], ["users", "create"], ["users", "list"],
                      ["users", "set-password"], ["users", "disable"], ["users", "enable"], ["clients"], ["clients", "create"],
                      ["keys"], ["keys", "rotate"], ["bench"], ["bench", "hash"]])
    func helpExplainsEveryCommand(path: [String]) async throws {
        let result = try await Self.run(path + ["--help"], environment: [:])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: signet"))
    }
}

/// Collects what a child process writes to a pipe as it arrives.
final class OutputCollector: Sendable {
    private final class Storage: Sendable {
        let data = Mutex(Data())
    }

    let pipe = Pipe()
    private let storage = Storage()

    init() {
        pipe.fileHandleForReading.readabilityHandler = { [storage] handle in
            let chunk = handle.availableData
            if chunk.isEmpty {
                handle.readabilityHandler = nil
            } else {
                storage.data.withLock { $0.append(chunk) }
            }
        }
    }

    /// What was written so far, after the writer closed (or at once when asked early).
    func text() -> String {
        // The handler may still be draining the last chunk after the process exited.
        for _ in 0..<50 where pipe.fileHandleForReading.readabilityHandler != nil {
            Thread.sleep(forTimeInterval: 0.01)
        }
        return current
    }

    var current: String { String(decoding: storage.data.withLock { $0 }, as: UTF8.self) }
}
