import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore
import Synchronization

/// Token buckets keyed by client address, in memory. `take` spends one token if there is one
/// and otherwise says how long until there will be. Idle full buckets are dropped as the table
/// grows, so memory stays bounded by the number of recently active addresses.
final class TokenBuckets: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let capacity: Double
    private let refillPerSecond: Double
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()

    init(capacity: Int, refillPerSecond: Double) {
        self.capacity = Double(capacity)
        self.refillPerSecond = refillPerSecond
    }

    /// Spends one token of `key`'s bucket: `nil` if there was one, else the seconds to wait.
    func take(_ key: String) -> Int? {
        spend(key, cost: 1, dryRun: false)
    }

    /// Like `take`, without spending: `nil` if `key` has a token left, else the seconds to wait.
    func peek(_ key: String) -> Int? {
        spend(key, cost: 1, dryRun: true)
    }

    private func spend(_ key: String, cost: Double, dryRun: Bool) -> Int? {
        let now = clock.now
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = Double((now - bucket.updated).components.seconds) + Double((now - bucket.updated).components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + elapsed * refillPerSecond)
            bucket.updated = now
            guard bucket.tokens >= cost else {
                buckets[key] = bucket
                return max(1, Int(((cost - bucket.tokens) / refillPerSecond).rounded(.up)))
            }
            if !dryRun { bucket.tokens -= cost }
            buckets[key] = bucket
            if buckets.count > 10_000 { prune(&buckets, now: now) }
            return nil
        }
    }

    private func prune(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        let fullAfter = Duration.seconds(capacity / refillPerSecond)
        buckets = buckets.filter { now - $0.value.updated < fullAfter }
    }
}

/// Finds the client address of a request: the peer, or the configured trusted proxy header
/// (for `X-Forwarded-For`, the address the nearest proxy saw, i.e. the last entry).
struct ClientAddress: Sendable {
    let trustedHeader: HTTPField.Name?

    init(settings: Settings) {
        trustedHeader = settings.rateLimits.trustedProxyHeader.flatMap { HTTPField.Name($0) }
    }

    func of(_ request: Request, context: SignetRequestContext) -> String {
        if let trustedHeader, let value = request.headers[trustedHeader] {
            let last = value.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if !last.isEmpty, last.utf8.count <= 64 { return last }
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// Per-address request limit of the OAuth endpoints: over it → 429 + `Retry-After` in the RFC 6749
/// error shape.
struct RateLimitMiddleware: RouterMiddleware {
    let buckets: TokenBuckets
    let address: ClientAddress

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        if let wait = buckets.take(address.of(request, context: context)) {
            throw OAuthError(.slowDown, "too many requests from this address; retry after \(wait)s", retryAfter: wait)
        }
        return try await next(request, context)
    }
}
