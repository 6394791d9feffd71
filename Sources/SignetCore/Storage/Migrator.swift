import Crypto
import Foundation
import Logging
import PostgresNIO

/// One SQL file of `Migrations/`, named `NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String
    /// SHA-256 of the file's bytes, hex; recorded when applied and checked on every later run.
    public var checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public var fileName: String { String(format: "%04d_", version) + name + ".sql" }

    /// The file as one statement: a `DO` block whose `EXECUTE` runs every command of the file.
    /// PostgresNIO speaks only the extended protocol, which takes a single command per query.
    var script: PostgresQuery {
        var tag = "signet"
        while sql.contains("$\(tag)_sql$") || sql.contains("$\(tag)_do$") { tag += "_" }
        return PostgresQuery(unsafeSQL: "DO $\(tag)_do$ BEGIN EXECUTE $\(tag)_sql$\(sql)$\(tag)_sql$; END $\(tag)_do$")
    }

    /// Every `NNNN_name.sql` in `directory`, in version order.
    public static func load(from directory: String) throws(MigrationError) -> [Migration] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw .unreadable("cannot list migrations directory \(directory)")
        }
        var migrations: [Migration] = []
        for file in files.sorted() where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let separator = stem.firstIndex(of: "_"), let version = Int(stem[..<separator]),
                  stem.distance(from: stem.startIndex, to: separator) == 4, version > 0
            else { throw .unreadable("migration file \(file) is not named NNNN_name.sql") }
            guard let sql = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8) else {
                throw .unreadable("cannot read migration \(file)")
            }
            if let previous = migrations.last, previous.version == version {
                throw .unreadable("migrations \(previous.fileName) and \(file) share version \(version)")
            }
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: separator)...]), sql: sql))
        }
        guard !migrations.isEmpty else { throw .unreadable("no migrations found in \(directory)") }
        return migrations
    }
}

public enum MigrationError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case checksumMismatch(file: String)
    case unknownVersion(Int)
    case failed(file: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let message): message
        case .checksumMismatch(let file):
            "migration \(file) was changed after it was applied; restore it and add a new migration instead"
        case .unknownVersion(let version):
            "the database has migration \(version) applied, which this build does not know; use a newer signet"
        case .failed(let file, let reason): "migration \(file) failed: \(reason)"
        }
    }
}

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
            try await connection.query(
                "SELECT pg_advisory_lock(hashtext('signet.migrate.' || current_schema()))", logger: logger)
            do {
                let report = try await apply(migrations, on: connection, logger: logger)
                try await connection.query(
                    "SELECT pg_advisory_unlock(hashtext('signet.migrate.' || current_schema()))", logger: logger)
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
