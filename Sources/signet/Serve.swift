import ArgumentParser
import Hummingbird
import Logging
import ServiceLifecycle
import SignetCore
import SignetHTTP

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the public listener (default 0.0.0.0:8080) and the admin listener (default 127.0.0.1:8081).")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let (settings, reader) = try await options.settings()
        let logger = Logger(label: "signet")
        do {
            try await Database.probe(url: settings.database.url, connectTimeout: .seconds(settings.database.connectTimeoutSeconds), logger: logger)
        } catch {
            logger.warning("starting without a database; /readyz answers 503 until it is reachable", metadata: ["reason": "\(error)"])
        }
        let app = try await buildApplication(reader: reader, logger: logger)
        // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (bounded), then exit 0.
        var configuration = ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(settings.http.shutdownGraceSeconds)
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }
}
