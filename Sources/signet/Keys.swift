import ArgumentParser
import SignetCore

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage signing keys.", subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the next key current, retire the current one (published until its tokens expire), create a new next key.")

        @OptionGroup var options: GlobalOptions
        @Flag(help: "Rotate even if the next key was published less than one JWKS cache lifetime ago.")
        var force = false

        func run() async throws {
            let force = self.force
            let result = try await TokenServices.withStarted(options) { services in
                _ = try await services.keys.keySet()
                return try await services.keys.rotate(force: force, origin: .commandLine)
            }
            switch result {
            case .rotated(let current, let next):
                print("current: \(current)")
                print("next: \(next)")
            case .alreadyRotated(let current):
                print("current: \(current) (another rotation happened first)")
            case .nextTooNew(let seconds):
                throw CommandFailure(description: "the next key was published \(seconds)s ago, less than keys.jwks_max_age_seconds; gateways may not have it yet (use --force to rotate anyway)")
            }
        }
    }
}
