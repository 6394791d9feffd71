import ArgumentParser
import Configuration
import Foundation
import Logging
import SignetCore
import SignetHTTP

@main
struct Signet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signet",
        abstract: "Signet: an OAuth 2 identity provider issuing short-lived JWTs and rotating refresh tokens.",
        discussion: """
            Settings come from SIGNET_* environment variables, then the JSON file given by --config
            (default: Config/signet.json when it exists), then built-in defaults.
            """,
        subcommands: [Serve.self, Migrate.self, Users.self, Clients.self, Keys.self, Bench.self])

    static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                var command = command
                try command.run()
            }
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            exit(withError: error)  // help, usage and validation messages
        } catch {
            exit(withError: CommandFailure(error))
        }
    }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "JSON settings file (default: Config/signet.json if present, or $SIGNET_CONFIG_FILE).")
    var config: String?

    /// Reads the settings and installs the configured log output; call once per process.
    func settings() async throws -> (Settings, ConfigReader) {
        let reader = try await Settings.reader(configFile: config)
        let settings = try Settings(reader: reader)
        SignetLogging.bootstrap(format: settings.logFormat)
        return (settings, reader)
    }
}

/// A failure reported as one line on stderr with a non-zero exit status.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String

    init(description: String) {
        self.description = description
    }

    init(_ error: any Error) {
        switch error {
        case let failure as CommandFailure: self = failure
        case let error as SignetCore.ValidationError: description = "invalid \(error.field): \(error.reason)"
        case UserStoreError.usernameTaken: description = "a user with that username already exists"
        case UserStoreError.notFound: description = "no such user"
        case ClientStoreError.clientIDTaken: description = "a client with that client_id already exists"
        case PasswordHasherError.overloaded: description = "password hashing is overloaded; try again"
        case let error as MasterKeyError: description = error.description
        default:
            let text = Database.describe(error) ?? String(describing: error)
            description = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
        }
    }
}

extension SignetEnvironment {
    /// Runs `body` against a started environment (database pool running, hashing pool up), then
    /// stops it. Fails fast, naming the URL, when the database cannot be reached.
    static func withStarted<T: Sendable>(
        _ options: GlobalOptions,
        _ body: @Sendable @escaping (SignetEnvironment) async throws -> T
    ) async throws -> T {
        let (settings, _) = try await options.settings()
        var logger = Logger(label: "signet")
        logger.logLevel = .error  // a command reports its own failure in one line
        try await Database.probe(url: settings.database.url, connectTimeout: .seconds(settings.database.connectTimeoutSeconds), logger: logger)
        let environment = try SignetEnvironment(settings: settings, logger: logger)
        let result: Result<T, any Error>
        do {
            result = .success(try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    await environment.database.client.run()
                    return nil
                }
                defer { group.cancelAll() }
                return try await body(environment)
            })
        } catch {
            result = .failure(error)
        }
        try? await environment.hasher.shutdown()
        return try result.get()
    }
}

extension TokenServices {
    /// ``SignetEnvironment/withStarted(_:_:)`` plus the master key and the token services.
    static func withStarted<T: Sendable>(
        _ options: GlobalOptions,
        _ body: @Sendable @escaping (TokenServices) async throws -> T
    ) async throws -> T {
        try await SignetEnvironment.withStarted(options) { environment in
            let services = try TokenServices(environment: environment)
            // Nothing is written with a master key the database was not set up with.
            try await services.keys.verifyMasterKey()
            return try await body(services)
        }
    }
}
