import Foundation
import Metrics
import Synchronization

/// Signet's operational metrics, named the Prometheus way (`signet_…_total`, `_seconds`), created
/// through an injected swift-metrics factory (the Prometheus one in production; tests pass their own).
public struct SignetMetrics: Sendable {
    let factory: any MetricsFactory
    /// The per-request metric objects, made once per route, method and status.
    private let requestHandles = RequestHandles()

    private final class RequestHandles: Sendable {
        let byKey = Mutex<[Key: (Counter, Timer)]>([:])
    }

    /// What tells the per-request metric objects apart; hashed as it is, with no string made per request.
    private struct Key: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Metrics that go nowhere, for tools and tests that do not care.
    public static let none = SignetMetrics(factory: NOOPMetricsHandler.instance)

    public func login(_ outcome: String) {
        Counter(label: "signet_logins_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    public func refresh(_ outcome: String) {
        Counter(label: "signet_refreshes_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    public func reuseDetected() {
        Counter(label: "signet_refresh_reuse_detected_total", dimensions: [], factory: factory).increment()
    }

    public func revoked(_ kind: String) {
        Counter(label: "signet_revocations_total", dimensions: [("kind", kind)], factory: factory).increment()
    }

    public func tokenIssued(_ grant: String) {
        Counter(label: "signet_access_tokens_issued_total", dimensions: [("grant", grant)], factory: factory).increment()
    }

    public func hashed(duration: Duration) {
        Timer(label: "signet_argon2_hash_duration_seconds", dimensions: [], factory: factory).recordNanoseconds(duration.nanoseconds)
    }

    public func argon2Queue(depth: Int) {
        Gauge(label: "signet_argon2_queue_depth", dimensions: [], factory: factory).record(depth)
    }

    public func databaseOperations(inFlight: Int, poolSize: Int) {
        Gauge(label: "signet_db_pool_in_use", dimensions: [], factory: factory).record(min(inFlight, poolSize))
        Gauge(label: "signet_db_pool_waiting", dimensions: [], factory: factory).record(max(0, inFlight - poolSize))
    }

    public func signingKeyAge(seconds: Double) {
        Gauge(label: "signet_signing_key_age_seconds", dimensions: [], factory: factory).record(seconds)
    }

    public func httpRequest(route: String, method: String, status: Int, duration: Duration) {
        let key = Key(route: route, method: method, status: status)
        let (counter, timer) = requestHandles.byKey.withLock { handles in
            if let found = handles[key] { return found }
            let made = (
                Counter(label: "signet_http_requests_total",
                        dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory),
                Timer(label: "signet_http_request_duration_seconds", dimensions: [("route", route), ("method", method)],
                      factory: factory))
            if handles.count < 1000 { handles[key] = made }
            return made
        }
        counter.increment()
        timer.recordNanoseconds(duration.nanoseconds)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
