import Logging
import ServiceLifecycle

/// The token side of Signet, built on a ``SignetEnvironment`` plus the master key: signing keys,
/// clients, sessions, the audit log and the grants. Its `services` (the key ring) must run.
public struct TokenServices: Sendable {
    public let environment: SignetEnvironment
    public let masterKey: MasterKey
    public let keys: KeyRing
    public let clients: ClientRegistry
    public let sessions: SessionStore
    public let audit: AuditLog
    public let grants: TokenGrants
    public let verifier: TokenVerifier
    public let revocations: Revocations
    public let introspection: Introspection
    public let signIn: BrowserSignIn
    public let secondFactor: SecondFactor
    public let dpop: DPoPVerifier

    public init(environment: SignetEnvironment, masterKey: MasterKey) {
        let settings = environment.settings, database = environment.database, logger = environment.logger
        self.environment = environment
        self.masterKey = masterKey
        audit = AuditLog(database: database)
        keys = KeyRing(
            store: KeyStore(database: database), audit: audit, masterKey: masterKey, settings: settings, logger: logger,
            metrics: environment.metrics)
        clients = ClientRegistry(store: ClientStore(database: database), masterKey: masterKey, audit: audit, changes: database.changes)
        sessions = SessionStore(database: database)
        secondFactor = SecondFactor(database: database, masterKey: masterKey, settings: settings)
        dpop = DPoPVerifier(database: database)
        grants = TokenGrants(
            users: environment.users, sessions: sessions,
            issuer: TokenIssuer(keys: keys, settings: settings), masterKey: masterKey, secondFactor: secondFactor, settings: settings, metrics: environment.metrics, logger: logger)
        verifier = TokenVerifier(keys: keys, settings: settings, database: database)
        revocations = Revocations(
            store: RevocationStore(database: database), sessions: sessions, verifier: verifier, masterKey: masterKey, settings: settings,
            metrics: environment.metrics)
        introspection = Introspection(
            verifier: verifier, sessions: sessions, masterKey: masterKey, settings: settings, changes: database.changes)
        signIn = BrowserSignIn(
            users: environment.users, clients: clients, verifier: verifier, secondFactor: secondFactor, database: database,
            settings: settings, metrics: environment.metrics)
    }

    /// Loads the master key named by the settings, then builds.
    public init(environment: SignetEnvironment) throws {
        self.init(environment: environment, masterKey: try MasterKey.load(from: environment.settings))
    }

    /// The long-running pieces: the environment's, the key ring, the change feed that keeps
    /// this node's caches in step with every other node's writes, and the retention clean-up.
    public var services: [any Service] {
        let settings = environment.settings
        let feed = ChangeFeed(
            database: environment.database, schema: settings.database.schema,
            backstop: .seconds(settings.cacheRefreshSeconds), logger: environment.logger)
        return environment.services + [keys, feed, RetentionCleaner(database: environment.database, settings: settings)]
    }
}
