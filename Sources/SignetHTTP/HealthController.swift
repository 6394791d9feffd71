import Hummingbird
import SignetCore

/// Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers).
struct HealthController: Sendable {
    let database: Database

    struct Status: ResponseEncodable {
        var status: String
    }

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("healthz") { _, _ in Status(status: "ok") }
        routes.get("readyz") { _, _ in
            guard await database.isReady() else {
                return EditedResponse(status: .serviceUnavailable, response: Status(status: "unavailable"))
            }
            return EditedResponse(status: .ok, response: Status(status: "ok"))
        }
        return routes
    }
}
