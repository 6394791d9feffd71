import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Prometheus
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

@Suite("Metrics", .timeLimit(.minutes(2)))
struct MetricsTests {
    @Test func metricsEndpointReportsWhatHappened() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = SignetMetrics(factory: PrometheusMetricsFactory(registry: registry))
        try await TestServices.with(overrides: ["refresh.reuse_grace_seconds": 0], metrics: metrics) { t in
            try await t.user("mia")
            let secret = try await t.client("web")
            let login = try await t.login("mia", client: "web")
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                _ = try await client.attemptLogin("mia", password: "wrong password!", client: "web", secret: secret)
                let first = try await client.refresh(login.refreshToken!, client: "web", secret: secret)
                #expect(first.status == .ok)
                #expect(try await client.refresh(login.refreshToken!, client: "web", secret: secret).status == .badRequest)
                _ = try await client.execute(uri: "/healthz", method: .get)
            }
            try await t.services.keys.maintain()
            try await Application(router: try buildAdminRouter(t.services, metrics: registry)).test(.router) { client in
                let response = try await client.execute(uri: "/metrics", method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                for line in [
                    #"signet_logins_total{outcome="success"} 1"#,
                    #"signet_logins_total{outcome="wrong_password"} 1"#,
                    #"signet_refreshes_total{outcome="rotated"} 1"#,
                    #"signet_refreshes_total{outcome="reused"} 1"#,
                    "signet_refresh_reuse_detected_total 1",
                    #"signet_http_requests_total{route="/oauth2/token",method="POST",status="400"} 2"#,
                    #"signet_http_requests_total{route="/healthz",method="GET",status="200"} 1"#,
                ] {
                    #expect(text.contains(line), "\(line)")
                }
                for name in ["signet_argon2_hash_duration_seconds_bucket", "signet_argon2_queue_depth", "signet_db_pool_in_use",
                             "signet_db_pool_waiting", "signet_signing_key_age_seconds", "signet_http_request_duration_seconds_bucket",
                             "signet_access_tokens_issued_total"] {
                    #expect(text.contains(name), "\(name)")
                }
            }
        }
    }
}
