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
