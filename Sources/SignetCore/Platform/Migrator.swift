import Crypto
import Foundation
import Logging
import PostgresNIO

/// Applies migrations in order, each in its own transaction, recording version and checksum in
/// `schema_migrations`. Runs hold a PostgreSQL advisory lock (per schema), so concurrent runs
/// serialize and the second finds nothing to do.
public struct Migrator: Sendable {
    public let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// What a run did: the files it applied, and how many were already in place.
    public struct Report: Sendable, Equatable {
        public var applied: [String]
        public var alreadyApplied: Int
    }

    public func migrate(_ migrations: [Migration]) async throws -> Report {
        let logger = database.logger
        return try await database.withConnection { connection in
            let schemas = try await connection.query("SELECT current_schema()", logger: logger).decode(String?.self)
            for try await schema in schemas where schema == nil {
                throw MigrationError.unreadable("the database has no schema named in search_path; create it first")
            }
            // Wait for the lock as long as another run takes (the server's lock_timeout and
            // statement_timeout would cut the wait short), and read the answer through: the lock is
            // held only once the statement has finished, and an error must not pass unnoticed.
            try await connection.query("SET lock_timeout = 0", logger: logger)
            try await connection.query("SET statement_timeout = 0", logger: logger)
            for try await _ in try await connection.query(
                "SELECT pg_advisory_lock(hashtext('signet.migrate.' || current_schema()))", logger: logger) {}
            try await connection.query("RESET statement_timeout", logger: logger)
            try await connection.query("RESET lock_timeout", logger: logger)
            do {
                let report = try await apply(migrations, on: connection, logger: logger)
                for try await _ in try await connection.query(
                    "SELECT pg_advisory_unlock(hashtext('signet.migrate.' || current_schema()))", logger: logger) {}
                return report
            } catch {
                _ = try? await connection.query(
                    "SELECT pg_advisory_unlock(hashtext('signet.migrate.' || current_schema()))", logger: logger)
                throw error
            }
        }
    }

    private func apply(_ migrations: [Migration], on connection: PostgresConnection, logger: Logger) async throws -> Report {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     integer     PRIMARY KEY,
                name        text        NOT NULL,
                checksum    text        NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        var applied: [Int: String] = [:]
        for try await (version, checksum) in try await connection.query(
            "SELECT version, checksum FROM schema_migrations", logger: logger
        ).decode((Int, String).self) {
            applied[version] = checksum
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        if let unknown = applied.keys.sorted().first(where: { known[$0] == nil }) {
            throw MigrationError.unknownVersion(unknown)
        }
        for migration in migrations {
            if let checksum = applied[migration.version], checksum != migration.checksum {
                throw MigrationError.checksumMismatch(file: migration.fileName)
            }
        }
        var report = Report(applied: [], alreadyApplied: applied.count)
        for migration in migrations where applied[migration.version] == nil {
            do {
                try await connection.query("BEGIN", logger: logger)
                try await connection.query(migration.script, logger: logger)
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """, logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                let reason = (error as? PSQLError)?.serverInfo?[.message] ?? "\(error)"
                throw MigrationError.failed(file: migration.fileName, reason: reason)
            }
            logger.info("applied migration", metadata: ["migration": "\(migration.fileName)"])
            report.applied.append(migration.fileName)
        }
        return report
    }
}
