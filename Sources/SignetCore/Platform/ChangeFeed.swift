import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Relays every node's changes to this node's ``ChangeHub`` through PostgreSQL `LISTEN/NOTIFY`
/// (channel `signet_<schema>`). Each time listening starts (at start-up, after a lost connection)
/// everything is invalidated, since changes may have been missed; a periodic full invalidation
/// backs the channel up.
public final class ChangeFeed: Service, Sendable {
    private let database: Database
    private let channel: String
    private let backstop: Duration
    private let logger: Logger

    public init(database: Database, schema: String, backstop: Duration, logger: Logger) {
        self.database = database
        self.channel = "signet_" + schema
        self.backstop = backstop
        self.logger = logger
    }

    private func changed(_ table: CachedTable) async { await database.changes.changed(table) }
    private func changedEverything() async { await database.changes.changedEverything() }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.listen() }
                group.addTask { try await self.periodicInvalidation() }
            }
        }
    }

    private func listen() async throws {
        while !Task.isCancelled {
            do {
                try await database.withConnection { connection in
                    try await connection.listen(on: channel) { notifications in
                        // Whatever was cached before this LISTEN (at start-up, or while the
                        // connection was lost) may predate a change nobody told us about.
                        await changedEverything()
                        for try await notification in notifications {
                            if let table = CachedTable(rawValue: notification.payload) { await changed(table) }
                        }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("change notifications interrupted; retrying", metadata: ["reason": "\(Database.describe(error) ?? "\(error)")"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func periodicInvalidation() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: backstop)
            await changedEverything()
        }
    }
}
