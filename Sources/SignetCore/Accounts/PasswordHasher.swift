import Foundation
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Hashes and verifies passwords with Argon2id on a dedicated thread pool no wider than the cores.
///
/// At most `threads + queueLimit` requests are admitted at once; beyond that callers get
/// ``SignetError/hashingOverloaded`` immediately instead of queueing hashes (and their memory).
/// Runs as a service so the pool stops with the application.
public final class PasswordHasher: Service, Sendable {
    public let parameters: Argon2Parameters
    public let threads: Int
    public let queueLimit: Int
    private let pool: NIOThreadPool
    private let admitted = Atomic<Int>(0)
    private let metrics: SignetMetrics
    /// A hash of a random password, verified against when a user does not exist so that the
    /// answer takes as long as for a real user.
    private let dummyHash: String

    /// The result of checking a password against a stored hash.
    public enum Check: Sendable, Equatable {
        case mismatch
        /// The password is right; `rehash` is set when the stored hash used other parameters than
        /// the configured ones and should be replaced by it.
        case match(rehash: String?)
    }

    public init(parameters: Argon2Parameters, threads: Int, queueLimit: Int, metrics: SignetMetrics = .none) throws {
        self.parameters = parameters
        self.metrics = metrics
        self.threads = max(1, min(threads, ProcessInfo.processInfo.activeProcessorCount))
        self.queueLimit = queueLimit
        var random = SystemRandomNumberGenerator()
        let dummyPassword = (0..<4).map { _ in String(random.next(), radix: 36) }.joined()
        self.dummyHash = try Argon2id.hash(password: dummyPassword, parameters: parameters)
        self.pool = NIOThreadPool(numberOfThreads: self.threads)
        pool.start()
    }

    /// Requests currently admitted (running or waiting for a thread).
    public var load: Int { admitted.load(ordering: .relaxed) }

    /// A new PHC string for `password` under the configured parameters.
    public func hash(_ password: String) async throws -> String {
        let parameters = self.parameters
        return try await run { try Argon2id.hash(password: password, parameters: parameters) }
    }

    /// Checks `password` against `encoded`; with `encoded == nil` (unknown user) it spends the same
    /// time on the dummy hash and reports a mismatch.
    public func verify(_ password: String, against encoded: String?) async throws -> Check {
        let parameters = self.parameters
        let target = encoded ?? dummyHash
        let known = encoded != nil
        return try await run {
            guard Argon2id.verify(password: password, encoded: target), known else { return .mismatch }
            guard Argon2id.parameters(of: target) == parameters else {
                return .match(rehash: try Argon2id.hash(password: password, parameters: parameters))
            }
            return .match(rehash: nil)
        }
    }

    /// Runs `work` on the pool if there is room (internal: tests use it to keep the pool busy).
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let limit = threads + queueLimit
        let (_, admittedNow) = admitted.add(1, ordering: .acquiringAndReleasing)
        metrics.argon2Queue(depth: max(0, admittedNow - threads))
        defer {
            let (_, left) = admitted.subtract(1, ordering: .acquiringAndReleasing)
            metrics.argon2Queue(depth: max(0, left - threads))
        }
        guard admittedNow <= limit else { throw SignetError.hashingOverloaded }
        let metrics = self.metrics
        do {
            return try await pool.runIfActive {
                let start = ContinuousClock.now
                defer { metrics.hashed(duration: ContinuousClock.now - start) }
                return try work()
            }
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw SignetError.hashingStopped
        }
    }

    /// Stops the pool after in-flight work; the hasher refuses new work afterwards.
    public func shutdown() async throws {
        try await pool.shutdownGracefully()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }
}

