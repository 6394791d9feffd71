import ArgumentParser
import Configuration
import Foundation
import Logging
import SignetCore
import SignetHTTP

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
