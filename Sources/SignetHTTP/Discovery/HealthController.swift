import Hummingbird
import SignetCore

/// Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers and
/// the signing keys are loaded, so the node can actually issue and verify tokens).
struct HealthController: Sendable {
    let services: TokenServices

    struct Status: ResponseEncodable {
        var status: String
    }

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("healthz") { _, _ in Status(status: "ok") }
        routes.get("readyz") { _, _ in
            guard services.keys.loaded != nil, await services.environment.database.isReady() else {
                return EditedResponse(status: .serviceUnavailable, response: Status(status: "unavailable"))
            }
            return EditedResponse(status: .ok, response: Status(status: "ok"))
        }
        return routes
    }
}
