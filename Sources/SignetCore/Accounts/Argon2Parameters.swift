import CArgon2
import Foundation

/// Argon2id cost parameters (RFC 9106): memory in KiB, passes, and lanes.
public struct Argon2Parameters: Sendable, Equatable, CustomStringConvertible {
    public var memoryKiB: Int
    public var iterations: Int
    public var parallelism: Int

    public init(memoryKiB: Int, iterations: Int, parallelism: Int) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    /// OWASP's recommended minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    public static let recommended = Argon2Parameters(memoryKiB: 19_456, iterations: 2, parallelism: 1)

    public var description: String { "m=\(memoryKiB),t=\(iterations),p=\(parallelism)" }
}
