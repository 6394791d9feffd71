import Foundation
import PostgresNIO
import SignetCore
import SignetTestSupport
import Testing

@Suite("Migrations", .timeLimit(.minutes(2)))
struct MigrationTests {
    let migrations: [Migration]

    init() throws {
        migrations = try Migration.load(from: TestDatabase.migrationsDirectory)
    }

    @Test func freshApplyCreatesTheWholeDataModel() async throws {
        try await TestDatabase.withDatabase(migrated: false) { db in
            let report = try await Migrator(database: db).migrate(migrations)
            #expect(report.applied.first == "0001_init.sql")
            #expect(report.alreadyApplied == 0)
            let tables: [String] = try await db.column(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1")
            #expect(Set(tables).isSuperset(of: [
                "users", "clients", "sessions", "revoked_tokens", "signing_keys", "audit_events", "schema_migrations",
            ]))
            let columns: [String] = try await db.column(
                """
                SELECT table_name || '.' || column_name FROM information_schema.columns
                WHERE table_schema = current_schema()
                """)
            for column in [
                "users.username", "users.password_hash", "users.roles", "users.disabled", "users.tokens_valid_after",
                "users.failed_login_count", "clients.secret_hash", "clients.grant_types", "sessions.refresh_counter",
                "sessions.last_refreshed_at", "sessions.revoked_at", "revoked_tokens.jti", "revoked_tokens.expires_at",
                "signing_keys.kid", "signing_keys.state", "signing_keys.private_key_sealed", "signing_keys.public_jwk",
                "audit_events.type", "audit_events.detail", "audit_events.remote_addr",
            ] {
                #expect(columns.contains(column), "missing column \(column)")
            }
        }
    }

    @Test func secondMigrateChangesNothing() async throws {
        try await TestDatabase.withDatabase(migrated: false) { db in
            let migrator = Migrator(database: db)
            _ = try await migrator.migrate(migrations)
            let before: [String] = try await db.column("SELECT applied_at::text FROM schema_migrations ORDER BY version")
            let again = try await migrator.migrate(migrations)
            #expect(again.applied.isEmpty)
            #expect(again.alreadyApplied == migrations.count)
            let after: [String] = try await db.column("SELECT applied_at::text FROM schema_migrations ORDER BY version")
            #expect(before == after)
        }
    }

    @Test func changedAppliedMigrationIsRefused() async throws {
        try await TestDatabase.withDatabase(migrated: false) { db in
            let migrator = Migrator(database: db)
            _ = try await migrator.migrate(migrations)
            var edited = migrations
            edited[0] = Migration(version: edited[0].version, name: edited[0].name, sql: edited[0].sql + "\n-- edited\n")
            await #expect(throws: MigrationError.checksumMismatch(file: "0001_init.sql")) {
                try await migrator.migrate(edited)
            }
        }
    }

    @Test func concurrentMigrateAppliesEachMigrationOnce() async throws {
        let migrations = self.migrations
        try await TestDatabase.withDatabase(migrated: false, poolSize: 8) { db in
            let reports = try await withThrowingTaskGroup(of: Migrator.Report.self) { group in
                for _ in 0..<6 { group.addTask { try await Migrator(database: db).migrate(migrations) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(reports.filter { !$0.applied.isEmpty }.count == 1)
            #expect(reports.flatMap(\.applied).count == migrations.count)
            let versions: [Int] = try await db.column("SELECT version FROM schema_migrations")
            #expect(versions.count == migrations.count)
        }
    }

    @Test func failedMigrationLeavesNoTrace() async throws {
        try await TestDatabase.withDatabase(migrated: false) { db in
            let broken = migrations + [Migration(
                version: 9001, name: "broken",
                sql: "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;")]
            await #expect(throws: MigrationError.self) { try await Migrator(database: db).migrate(broken) }
            let tables: [String] = try await db.column(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()")
            #expect(!tables.contains("half_done"))
            #expect(tables.contains("users"), "earlier migrations stay applied")
            let versions: [Int] = try await db.column("SELECT version FROM schema_migrations")
            #expect(!versions.contains(9001))
        }
    }

    @Test func databaseAheadOfThisBuildIsRefused() async throws {
        try await TestDatabase.withDatabase(migrated: false) { db in
            let migrator = Migrator(database: db)
            _ = try await migrator.migrate(migrations + [Migration(version: 9002, name: "future", sql: "SELECT 1;")])
            await #expect(throws: MigrationError.unknownVersion(9002)) { try await migrator.migrate(migrations) }
        }
    }

    @Test func migrationFilesMustBeNamedWithAVersion() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signet-mig-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 1;".write(to: directory.appendingPathComponent("init.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.self) { try Migration.load(from: directory.path) }
    }

    @Test func auditEventsAreAppendOnly() async throws {
        try await TestDatabase.withDatabase { db in
            try await db.client.query("INSERT INTO audit_events (type) VALUES ('login_succeeded')", logger: db.logger)
            await #expect(throws: PSQLError.self) {
                try await db.client.query("DELETE FROM audit_events", logger: db.logger)
            }
            await #expect(throws: PSQLError.self) {
                try await db.client.query("UPDATE audit_events SET type = 'x'", logger: db.logger)
            }
        }
    }
}
