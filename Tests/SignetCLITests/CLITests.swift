import Foundation
import SignetTestSupport
import Testing

/// Drives the built `signet` executable the way an operator does.
@Suite("signet command line")
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

    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: TestDatabase.packageRoot)
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SIGNET_") }
        env.merge(environment) { $1 }
        process.environment = env
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
    }

    static func environment(schema: String) throws -> [String: String] {
        [
            "SIGNET_DATABASE_URL": ProcessInfo.processInfo.environment["SIGNET_TEST_DATABASE_URL"] ?? "",
            "SIGNET_DATABASE_SCHEMA": schema,
            "SIGNET_ARGON2_MEMORY_KIB": "1024",
            "SIGNET_ARGON2_ITERATIONS": "1",
        ]
    }

    @Test func usersCreateThenListThroughTheExecutable() async throws {
        _ = try TestDatabase.url
        try await TestDatabase.withSchema { schema in
            let env = try Self.environment(schema: schema)
            let migrate = try Self.run(["migrate"], environment: env)
            #expect(migrate.status == 0, "\(migrate.stderr)")
            #expect(migrate.stdout.contains("applied 0001_init.sql"))

            let again = try Self.run(["migrate"], environment: env)
            #expect(again.status == 0)
            #expect(again.stdout.contains("up to date"))

            let create = try Self.run(
                ["users", "create", "Root", "--role", "admin", "--email", "root@example.com", "--password-stdin"],
                stdin: "root password 1\n", environment: env)
            #expect(create.status == 0, "\(create.stderr)")
            #expect(create.stdout.hasPrefix("created user root ("))
            #expect(!create.stdout.contains("root password 1") && !create.stderr.contains("root password 1"))

            let list = try Self.run(["users", "list"], environment: env)
            #expect(list.status == 0)
            let rows = list.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
            #expect(rows.count == 2)
            #expect(rows.last?.dropFirst().map { $0 } == ["root", "root@example.com", "admin", "false"])

            let duplicate = try Self.run(["users", "create", "ROOT", "--password-stdin"], stdin: "other password\n", environment: env)
            #expect(duplicate.status != 0)
            #expect(duplicate.stderr == "Error: a user with that username already exists\n")

            let disable = try Self.run(["users", "disable", "root"], environment: env)
            #expect(disable.status == 0)
            let listed = try Self.run(["users", "list"], environment: env)
            #expect(listed.stdout.hasSuffix("\tadmin\ttrue\n"))

            let setPassword = try Self.run(["users", "set-password", "nobody", "--password-stdin"], stdin: "a new password\n", environment: env)
            #expect(setPassword.status != 0)
            #expect(setPassword.stderr == "Error: no such user\n")

            let weak = try Self.run(["users", "create", "weak", "--password-stdin"], stdin: "short\n", environment: env)
            #expect(weak.status != 0)
            #expect(weak.stderr.contains("password"))
            #expect(weak.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func unreachableDatabaseIsOneLineNamingTheURLWithoutItsPassword() throws {
        let result = try Self.run(["users", "list"], environment: [
            "SIGNET_DATABASE_URL": "postgres://signet:hunter2secret@127.0.0.1:1/signet",
            "SIGNET_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("postgres://signet:***@127.0.0.1:1/signet"))
        #expect(!result.stderr.contains("hunter2secret"))
    }

    @Test func badSettingIsOneLineNamingIt() throws {
        let result = try Self.run(["migrate"], environment: ["SIGNET_PUBLIC_PORT": "eighty"])
        #expect(result.status != 0)
        #expect(result.stderr == "Error: invalid setting public.port (SIGNET_PUBLIC_PORT): not a valid integer\n")
    }

    @Test func passwordIsNeverAcceptedOnTheCommandLine() throws {
        let result = try Self.run(["users", "create", "someone"], environment: [:])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--password-stdin"))
    }

    @Test(arguments: [[], ["serve"], ["migrate"], ["users"], ["users", "create"], ["users", "list"],
                      ["users", "set-password"], ["users", "disable"], ["users", "enable"]])
    func helpExplainsEveryCommand(path: [String]) throws {
        let result = try Self.run(path + ["--help"], environment: [:])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: signet"))
    }
}
