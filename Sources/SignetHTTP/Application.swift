import Configuration
import Hummingbird
import Logging
import Prometheus
import SignetCore

/// Assembles Signet from configuration: validates every setting, loads the master key, then
/// returns the public application, which also runs the admin listener, the database pool, the
/// hashing pool and the key ring as services. `signet serve` and the tests both start here.
public func buildApplication(reader: ConfigReader, logger: Logger? = nil) async throws -> some ApplicationProtocol {
    let settings = try Settings(reader: reader)
    var logger = logger ?? Logger(label: "signet")
    if let level = Logger.Level(rawValue: settings.logLevel) {
        logger.logLevel = level
    }
    let registry = PrometheusCollectorRegistry()
    let metrics = SignetMetrics(factory: PrometheusMetricsFactory(registry: registry))
    let services = try TokenServices(environment: try SignetEnvironment(settings: settings, logger: logger, metrics: metrics))
    let limits = ListenerLimits(settings: settings, descriptorLimit: ListenerLimits.raiseDescriptorLimit(), logger: logger)
    let admin = Application(
        router: try buildAdminRouter(services, metrics: registry),
        server: limits.server(logger: logger),
        configuration: limits.configuration(reader: reader.scoped(to: "admin"), logger: logger),
        logger: logger)
    return Application(
        router: try buildPublicRouter(services),
        server: limits.server(logger: logger),
        configuration: limits.configuration(reader: reader.scoped(to: "public"), logger: logger),
        services: services.services + [admin],
        logger: logger)
}

/// Routes of the public listener (applications and gateways). `clock` drives the per-address
/// limits (tests move it by hand).
public func buildPublicRouter(_ services: TokenServices, clock: LimiterClock = .system) throws -> Router<SignetRequestContext> {
    let settings = services.environment.settings
    // HEAD answers as GET without the body, on every GET route (RFC 9110 §9.3.2).
    let router = Router(context: SignetRequestContext.self, options: .autoGenerateHeadEndpoints)
    let deadline = DeadlineMiddleware<SignetRequestContext>(deadline: .seconds(settings.http.requestTimeoutSeconds))
    router.add(middleware: EdgeMiddleware(metrics: services.environment.metrics))
    router.add(middleware: ClientAddressMiddleware(settings: settings))
    router.add(middleware: NetworkPolicy(allowed: settings.publicListener.allowedNetworks))
    router.addRoutes(HealthController(services: services).endpoints)
    router.addRoutes(try WellKnownController(keys: services.keys, settings: settings).endpoints)
    let limits = settings.rateLimits
    let perAddress = RateLimitMiddleware(buckets: TokenBuckets(
        capacity: limits.burst, refillPerSecond: limits.requestsPerSecond, maximumKeys: limits.maximumTrackedAddresses, clock: clock))
    // Each group renders its refusals in its own dialect, the per-address limit's too.
    let oauth = router.group()
        .add(middleware: ErrorDialectMiddleware<SignetRequestContext, OAuthDialect>(OAuthDialect()))
        .add(middleware: perAddress)
        .add(middleware: deadline)
    let failedLogins = TokenBuckets(
        capacity: limits.failedLoginBurst, refillPerSecond: 1 / Double(limits.failedLoginRefillSeconds),
        maximumKeys: limits.maximumTrackedAddresses, clock: clock)
    oauth.addRoutes(TokenController(services: services, failedLogins: failedLogins).endpoints)
    oauth.addRoutes(TokenManagementController(services: services).endpoints)
    router.group()
        .add(middleware: ErrorDialectMiddleware<SignetRequestContext, BearerDialect>(BearerDialect()))
        .add(middleware: perAddress)
        .add(middleware: deadline)
        .add(middleware: BearerAuthenticator(services: services, audience: .any))
        .addRoutes(UserinfoController().endpoints)
    // Browser sign-in: pages, and refusals that cannot go back to the application as pages too.
    let pages = try PageRenderer(overrides: settings.browser.templatesDirectory)
    let csrf = CSRFGuard(masterKey: services.masterKey, settings: settings)
    let cookies = BrowserCookies(settings: settings)
    router.addRoutes(AssetsController().endpoints)
    let browser = router.group()
        .add(middleware: ErrorDialectMiddleware<SignetRequestContext, HTMLDialect>(HTMLDialect(pages: pages)))
        .add(middleware: perAddress)
        .add(middleware: deadline)
    browser.addRoutes(AuthorizeController(
        services: services, pages: pages, csrf: csrf, cookies: cookies, failedLogins: failedLogins).endpoints)
    browser.addRoutes(LogoutController(services: services, pages: pages, csrf: csrf, cookies: cookies).endpoints)
    return router
}

/// Routes of the admin listener. It is never mounted on the public listener. `/metrics` and
/// `/openapi.yaml` answer without a token (the listener is loopback by default); `/admin/...`
/// needs an admin's access token. `clock` drives the per-address limit (tests move it by hand).
public func buildAdminRouter(
    _ services: TokenServices, metrics registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), clock: LimiterClock = .system
) throws -> Router<SignetRequestContext> {
    let settings = services.environment.settings
    // HEAD answers as GET without the body, on every GET route (RFC 9110 §9.3.2).
    let router = Router(context: SignetRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.add(middleware: EdgeMiddleware(metrics: services.environment.metrics))
    router.add(middleware: ClientAddressMiddleware(settings: settings))
    router.add(middleware: NetworkPolicy(allowed: settings.adminListener.allowedNetworks))
    router.addRoutes(OpenAPIController().endpoints)
    router.get("metrics") { _, _ in
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
    let limits = settings.rateLimits
    router.group()
        .add(middleware: AdminErrorMiddleware())
        .add(middleware: RateLimitMiddleware(buckets: TokenBuckets(
            capacity: limits.burst, refillPerSecond: limits.requestsPerSecond, maximumKeys: limits.maximumTrackedAddresses, clock: clock)))
        .add(middleware: DeadlineMiddleware(deadline: .seconds(settings.http.requestTimeoutSeconds)))
        // Admin calls need a token meant for the admin API (its own audience, which only clients
        // registered with it obtain) whose user may use the admin role.
        .add(middleware: BearerAuthenticator(services: services, audience: .exactly(services.environment.settings.adminAudience)))
        .add(middleware: RolePolicy(role: "admin", secondFactorRoles: services.environment.settings.mfaRequiredRoles))
        .addRoutes(AdminController(services: services).endpoints)
    return router
}
