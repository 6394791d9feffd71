import ArgumentParser
import Foundation
import SignetCore

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure in-process ceilings for benchmarks.", subcommands: [Hash.self])

    struct Hash: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Argon2id hashes per second at the configured parameters, on the login pool's width.",
            discussion: "Prints one line: hashes_per_second=… threads=… m=… t=… p=… seconds=…")

        @OptionGroup var options: GlobalOptions
        @Option(help: "How long to measure, in seconds.") var seconds: Double = 5

        func run() async throws {
            let (settings, _) = try await options.settings()
            let argon2 = settings.argon2
            let hasher = try PasswordHasher(parameters: argon2.parameters, threads: argon2.threads, queueLimit: argon2.threads)
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            let start = ContinuousClock.now
            let count = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<hasher.threads {
                    group.addTask {
                        var done = 0
                        while ContinuousClock.now < deadline {
                            _ = try await hasher.hash("benchmark password \(worker)-\(done)")
                            done += 1
                        }
                        return done
                    }
                }
                return try await group.reduce(0, +)
            }
            let elapsed = ContinuousClock.now - start
            try await hasher.shutdown()
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(String(format: "hashes_per_second=%.1f threads=%d m=%d t=%d p=%d seconds=%.2f",
                         Double(count) / seconds, hasher.threads, argon2.parameters.memoryKiB, argon2.parameters.iterations,
                         argon2.parameters.parallelism, seconds))
        }
    }
}
