import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore
import Synchronization

/// Token buckets keyed by client address, in memory. `take` spends one token if there is one
/// and otherwise says how long until there will be; `refund` gives one back.
///
/// Memory is bounded without scans: only buckets that are not full are stored (a full bucket is
/// the same as none), and they live in two generations. When the current one reaches half the
/// cap it becomes the previous one and the old previous one is dropped whole; a key found in the
/// previous generation moves to the current one. Forgetting a bucket only ever makes it full
/// again (lenient, never stricter), and at most `maximumKeys` buckets are ever held.
final class TokenBuckets: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct Generations {
        var current: [String: Bucket] = [:]
        var previous: [String: Bucket] = [:]
    }

    private let capacity: Double
    private let refillPerSecond: Double
    private let generationSize: Int
    private let state = Mutex(Generations())
    private let clock: LimiterClock

    init(capacity: Int, refillPerSecond: Double, maximumKeys: Int = 100_000, clock: LimiterClock = .system) {
        self.clock = clock
        self.capacity = Double(capacity)
        self.refillPerSecond = refillPerSecond
        self.generationSize = max(1, maximumKeys / 2)
    }

    /// Spends one token of `key`'s bucket: `nil` if there was one, else the seconds to wait.
    func take(_ key: String) -> Int? {
        let now = clock.now()
        return state.withLock { state in
            var bucket = Self.remove(key, from: &state) ?? Bucket(tokens: capacity, updated: now)
            refill(&bucket, now: now)
            guard bucket.tokens >= 1 else {
                store(bucket, for: key, in: &state)
                return max(1, Int(((1 - bucket.tokens) / refillPerSecond).rounded(.up)))
            }
            bucket.tokens -= 1
            store(bucket, for: key, in: &state)
            return nil
        }
    }

    /// Gives back a token taken by `take` (an attempt that turned out not to count).
    func refund(_ key: String) {
        let now = clock.now()
        state.withLock { state in
            guard var bucket = Self.remove(key, from: &state) else { return }
            refill(&bucket, now: now)
            bucket.tokens = min(capacity, bucket.tokens + 1)
            store(bucket, for: key, in: &state)
        }
    }

    /// How many addresses are tracked now (for tests of the bound).
    var trackedKeys: Int {
        state.withLock { $0.current.count + $0.previous.count }
    }

    private func refill(_ bucket: inout Bucket, now: ContinuousClock.Instant) {
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(capacity, bucket.tokens + seconds * refillPerSecond)
        bucket.updated = now
    }

    private static func remove(_ key: String, from state: inout Generations) -> Bucket? {
        state.current.removeValue(forKey: key) ?? state.previous.removeValue(forKey: key)
    }

    private func store(_ bucket: Bucket, for key: String, in state: inout Generations) {
        guard bucket.tokens < capacity else { return }
        if state.current.count >= generationSize {
            state.previous = state.current
            state.current = [:]
            state.current.reserveCapacity(generationSize)
        }
        state.current[key] = bucket
    }
}
