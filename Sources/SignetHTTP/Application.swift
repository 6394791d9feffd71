import Configuration
import Hummingbird
import Logging
import SignetCore

/// The request context of both listeners.
public typealias SignetRequestContext = BasicRequestContext

/// Assembles Signet from configuration: validates every setting, then returns the public
/// application, which also runs the admin listener, the database pool and the hashing pool as
/// services. `signet serve` and the tests both start here.
public func buildApplication(reader: ConfigReader, logger: Logger? = nil) async throws -> some ApplicationProtocol {
    let settings = try Settings(reader: reader)
    var logger = logger ?? Logger(label: "signet")
    if let level = Logger.Level(rawValue: settings.logLevel) {
        logger.logLevel = level
    }
    let environment = try SignetEnvironment(settings: settings, logger: logger)
    let admin = Application(
        router: buildAdminRouter(environment),
        configuration: ApplicationConfiguration(reader: reader.scoped(to: "admin")),
        logger: logger)
    return Application(
        router: buildPublicRouter(environment),
        configuration: ApplicationConfiguration(reader: reader.scoped(to: "public")),
        services: environment.services + [admin],
        logger: logger)
}

/// Routes of the public listener (applications and gateways).
public func buildPublicRouter(_ environment: SignetEnvironment) -> Router<SignetRequestContext> {
    let router = Router(context: SignetRequestContext.self)
    router.addRoutes(HealthController(database: environment.database).endpoints)
    return router
}

/// Routes of the admin listener. It is never mounted on the public listener.
public func buildAdminRouter(_ environment: SignetEnvironment) -> Router<SignetRequestContext> {
    Router(context: SignetRequestContext.self)
}
