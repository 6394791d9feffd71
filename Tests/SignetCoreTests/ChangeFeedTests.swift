import Foundation
import Logging
import PostgresNIO
import SignetCore
import SignetTestSupport
import Synchronization
import Testing

@Suite("Change notifications between nodes", .timeLimit(.minutes(2)))
struct ChangeFeedTests {
    /// Two pools on one schema stand for two nodes; a write through one reaches the other's caches
    /// through LISTEN/NOTIFY.
    @Test func writesAtOneNodeInvalidateTheOthersCaches() async throws {
        try await TestServices.with { a in
            let url = try TestDatabase.url
            let schema: [String] = try await a.database.column("SELECT current_schema()::text")
            let other = Database(url: url, poolSize: 2, connectTimeout: .seconds(5), searchPath: schema[0], logger: TestDatabase.logger)
            let heard = Mutex<[CachedTable]>([])
            other.changes.subscribe { table in heard.withLock { $0.append(table) } }
            let feed = ChangeFeed(database: other, schema: schema[0], backstop: .seconds(3600), logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await other.client.run() }
                group.addTask { try await feed.run() }
                defer { group.cancelAll() }
                // Wait until LISTEN is in place: repeat a harmless change until the other node hears one.
                for attempt in 0..<100 where heard.withLock({ $0 }).isEmpty {
                    try await a.database.client.query("SELECT pg_notify('signet_' || current_schema(), 'clients')", logger: a.database.logger)
                    try await Task.sleep(for: .milliseconds(100 + attempt))
                }
                heard.withLock { $0.removeAll() }

                let user = try await a.user("nora")
                try await a.client("web")
                _ = try await a.services.keys.keySet()
                _ = try await a.services.environment.users.update(id: user.id, .init(disabled: true), origin: RequestOrigin())
                try await a.services.revocations.revoke(.jti("some-jti"), origin: RequestOrigin())
                try await Self.until { Set(heard.withLock { $0 }).isSuperset(of: [.clients, .signingKeys, .users, .revokedTokens]) }

                heard.withLock { $0.removeAll() }
                try await a.database.client.query("UPDATE sessions SET refresh_counter = refresh_counter + 1", logger: a.database.logger)
                try await a.database.client.query("UPDATE users SET failed_login_count = failed_login_count + 1", logger: a.database.logger)
                try await a.database.client.query("SELECT pg_notify('signet_' || current_schema(), 'users')", logger: a.database.logger)
                try await Self.until { !heard.withLock { $0 }.isEmpty }
                #expect(heard.withLock { $0 } == [.users], "refreshes and failed logins do not flood the channel")
            }
        }
    }

    static func until(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(50)) }
        #expect(condition(), "not heard within 10 s")
    }
}
