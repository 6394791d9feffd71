import Logging
import PostgresNIO
import Synchronization

/// The database could not be reached or refused us; the message names the URL (never its password).
public struct DatabaseUnavailable: Error, CustomStringConvertible {
    public var url: DatabaseURL
    public var reason: String

    public var description: String { "cannot reach database at \(url): \(reason)" }
}

/// The PostgreSQL pool Signet runs on, plus the checks made around it.
///
/// The pool is a service: it must be running (`run()`, normally inside the application's service
/// group) before any query is answered.
public struct Database: Sendable {
    public let client: PostgresClient
    public let url: DatabaseURL
    public let logger: Logger
    public let poolSize: Int
    /// Where this node's caches hear about changes (their own and, via ``ChangeFeed``, every node's).
    public let changes = ChangeHub()
    private let load = Load()

    /// Database operations in flight (running or waiting for a pooled connection).
    final class Load: Sendable {
        let inFlight = Atomic<Int>(0)
        let metrics = Mutex<SignetMetrics>(.none)
    }

    public init(url: DatabaseURL, poolSize: Int, connectTimeout: Duration, searchPath: String? = nil, logger: Logger) {
        self.url = url
        self.logger = logger
        self.poolSize = poolSize
        self.client = PostgresClient(
            configuration: url.clientConfiguration(poolSize: poolSize, connectTimeout: connectTimeout, searchPath: searchPath),
            backgroundLogger: logger)
    }

    /// Reports pool use (`signet_db_pool_in_use`, `signet_db_pool_waiting`) to `metrics` from now on.
    public func report(to metrics: SignetMetrics) {
        load.metrics.withLock { $0 = metrics }
    }

    /// Runs one query through the pool, counting it as in flight meanwhile.
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        try await tracked { try await client.query(query, logger: logger, file: file, line: line) }
    }

    /// Runs a named prepared statement: parsed and planned once per pooled connection.
    public func execute<Statement: PostgresPreparedStatement>(
        _ statement: Statement, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        try await tracked { try await client.execute(statement, logger: logger, file: file, line: line) }
    }

    /// Runs `body` in one transaction on one pooled connection.
    public func withTransaction<T>(logger: Logger, _ body: (PostgresConnection) async throws -> sending T) async throws -> sending T {
        try await tracked { try await client.withTransaction(logger: logger, body) }
    }

    /// Runs `body` on one pooled connection.
    public func withConnection<T>(_ body: (PostgresConnection) async throws -> sending T) async throws -> sending T {
        try await tracked { try await client.withConnection(body) }
    }

    private func tracked<T>(_ work: () async throws -> sending T) async throws -> sending T {
        let now = load.inFlight.add(1, ordering: .relaxed).newValue
        load.metrics.withLock { $0 }.databaseOperations(inFlight: now, poolSize: poolSize)
        defer {
            let after = load.inFlight.subtract(1, ordering: .relaxed).newValue
            load.metrics.withLock { $0 }.databaseOperations(inFlight: after, poolSize: poolSize)
        }
        return try await work()
    }

    /// Whether the database answers `SELECT 1` within `timeout`.
    public func isReady(timeout: Duration = .seconds(2)) async -> Bool {
        do {
            return try await withTimeout(timeout) {
                let rows = try await query("SELECT 1", logger: logger)
                for try await _ in rows {}
                return true
            }
        } catch {
            return false
        }
    }

    /// Connects once outside the pool to fail fast with the server's own reason (refused,
    /// unknown database, authentication) instead of waiting on a pool that keeps retrying.
    public static func probe(url: DatabaseURL, connectTimeout: Duration, logger: Logger) async throws(DatabaseUnavailable) {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try url.connectionConfiguration(connectTimeout: connectTimeout), id: 0, logger: logger)
            try? await connection.close()
        } catch let error as PSQLError {
            throw DatabaseUnavailable(url: url, reason: error.serverInfo?[.message] ?? describe(error))
        } catch {
            throw DatabaseUnavailable(url: url, reason: "\(error)")
        }
    }

    /// A one-line, secret-free account of a database error, for operators: PostgresNIO's own
    /// description deliberately hides everything.
    public static func describe(_ error: any Error) -> String? {
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.rollbackError, error.commitError]
                .compactMap { $0 }.first.flatMap { describe($0) ?? "\($0)" }
        }
        guard let error = error as? PSQLError else { return nil }
        if let message = error.serverInfo?[.message] {
            return "database error: " + message
        }
        return "database error: " + describe(error)
    }

    private static func describe(_ error: PSQLError) -> String {
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }
}

/// A deadline passed before the work finished.
public struct TimedOut: Error {
    public init() {}
}

/// Runs `body`, throwing ``TimedOut`` if it has not finished after `timeout`.
public func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

extension Database {
    /// Whether `error` means the database cannot be used right now (down, restarting, out of
    /// connections, or too slow), as opposed to Signet sending it something wrong. Callers answer
    /// such errors with 503 and `Retry-After`.
    public static func isUnavailable(_ error: any Error) -> Bool {
        if error is TimedOut { return true }
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].compactMap { $0 }.contains(where: isUnavailable)
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
                return true
            case .server:
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53")
            default:
                return false
            }
        }
        // The pool's own errors (circuit breaker tripped, request cancelled by a deadline).
        return String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError")
    }

    /// Whether PostgreSQL refused a value Signet passed on (SQLSTATE class 22, e.g. a NUL byte or
    /// an unparsable timestamp): input validation missed it, but it is still the client's input.
    public static func isInvalidInput(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server else { return false }
        return error.serverInfo?[.sqlState]?.hasPrefix("22") == true
    }
}

extension Database {
    /// Runs a statement that changes `table` and answers a row when it did; when it did, this
    /// node's caches hear of it at once (other nodes through the change feed). Whether it did.
    public func changed(_ table: CachedTable, by statement: PostgresQuery, logger: Logger) async throws -> Bool {
        let rows = try await query(statement, logger: logger)
        for try await _ in rows {
            await changes.changed(table)
            return true
        }
        return false
    }

    /// Runs the pool for as long as `body` runs, then stops it, also when `body` throws.
    public func whileRunning<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await self.client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}
