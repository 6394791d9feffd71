import ArgumentParser
import SignetCore

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending SQL migrations in order; a no-op when the database is up to date.",
        discussion: "Each migration runs in its own transaction; concurrent runs are serialized by an advisory lock.")

    @OptionGroup var options: GlobalOptions

    @Option(name: .long, help: "Directory of NNNN_name.sql files (default: the database.migrations_dir setting).")
    var dir: String?

    func run() async throws {
        let directory = dir
        let report = try await SignetEnvironment.withStarted(options) { environment in
            let migrations = try Migration.load(from: directory ?? environment.settings.database.migrationsDirectory)
            return try await Migrator(database: environment.database).migrate(migrations)
        }
        for file in report.applied { print("applied \(file)") }
        if report.applied.isEmpty {
            print("database is up to date (\(report.alreadyApplied) migrations applied)")
        }
    }
}
