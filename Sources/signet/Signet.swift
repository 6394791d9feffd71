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
            result = .success(try await environment.database.whileRunning { try await body(environment) })
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
