import Logging
import ServiceLifecycle

/// Everything the use cases need, built once from ``Settings`` and shared by the HTTP listeners
/// and the CLI. Its `services` (the database pool, the hashing pool) must run for it to work.
public struct SignetEnvironment: Sendable {
    public let settings: Settings
    public let logger: Logger
    public let database: Database
    public let hasher: PasswordHasher
    public let users: UserAccounts
    public let metrics: SignetMetrics

    public init(settings: Settings, logger: Logger, metrics: SignetMetrics = .none) throws {
        try self.init(
            settings: settings,
            database: Database(
                url: settings.database.url,
                poolSize: settings.database.poolSize,
                connectTimeout: .seconds(settings.database.connectTimeoutSeconds),
                searchPath: settings.database.schema,
                logger: logger),
            logger: logger, metrics: metrics)
    }

    /// Builds on an existing pool (which the caller runs).
    public init(settings: Settings, database: Database, logger: Logger, metrics: SignetMetrics = .none) throws {
        self.settings = settings
        self.logger = logger
        self.database = database
        self.metrics = metrics
        database.report(to: metrics)
        hasher = try PasswordHasher(
            parameters: settings.argon2.parameters,
            threads: settings.argon2.threads,
            queueLimit: settings.argon2.queueLimit,
            metrics: metrics)
        users = UserAccounts(
            store: UserStore(database: database), hasher: hasher, audit: AuditLog(database: database), logger: logger,
            attemptsWaitingPerAccount: min(8, settings.argon2.queueLimit))
    }

    /// The long-running pieces, to be run in the application's service group.
    public var services: [any Service] { [database.client, hasher] }
}
