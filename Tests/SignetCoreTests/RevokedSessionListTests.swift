import Foundation
import PostgresNIO
import SignetCore
import SignetTestSupport
import Testing

/// The admin list of revoked sessions merges refresh families and browser sessions by revocation
/// time; paging through it must give each exactly once, in order, ties included.
@Suite("Revoked session list", .timeLimit(.minutes(2)))
struct RevokedSessionListTests {
    @Test func pagesThroughBothKindsInOrderWithTies() async throws {
        try await TestServices.with { t in
            let user = try await t.user("rita")
            try await t.client("web")
            let db = t.database
            func run(_ sql: String) async throws { try await db.client.query(PostgresQuery(unsafeSQL: sql), logger: db.logger) }
            // Four revocation times shared by both kinds (ties within and across tables), and live ones.
            let times = ["2026-01-01 00:00:00+00", "2026-01-02 00:00:00+00", "2026-01-02 00:00:00.5+00", "2026-01-03 00:00:00+00"]
            var expected: [(at: String, id: UUID)] = []
            for index in 0..<14 {
                let id = UUID(), at = times[index % times.count], live = index % 5 == 4
                if index % 2 == 0 {
                    try await run("""
                        INSERT INTO sessions (id, user_id, client_id, created_at, expires_at, revoked_at, revoked_reason)
                        VALUES ('\(id)', '\(user.id)', 'web', '2025-12-01', now() + interval '1 day',
                                \(live ? "NULL" : "'\(at)'"), \(live ? "NULL" : "'test'"))
                        """)
                } else {
                    try await run("""
                        INSERT INTO browser_sessions (id, secret_hash, user_id, user_generation, auth_time, amr, created_at,
                                                      expires_at, revoked_at, revoked_reason)
                        VALUES ('\(id)', sha256('\(id)'::bytea), '\(user.id)', 0, now(), '{pwd}', '2025-12-01',
                                now() + interval '1 day', \(live ? "NULL" : "'\(at)'"), \(live ? "NULL" : "'logout'"))
                        """)
                }
                if !live { expected.append((at, id)) }
            }
            // PostgreSQL orders uuids bytewise, as their hex strings compare.
            let order = expected.sorted { ($0.at, $0.id.uuidString) > ($1.at, $1.id.uuidString) }.map(\.id)

            let store = RevocationStore(database: db)
            var listed: [UUID] = [], cursor: RevocationStore.SessionCursor?
            for _ in 0..<10 {
                let page = try await store.sessions(before: cursor, limit: 3)
                listed += page.map(\.sessionID)
                guard page.count == 3, let last = page.last else { break }
                cursor = last.cursor
            }
            #expect(listed == order, "every revoked session once, newest first, across both tables")
            #expect(listed.count == 12)
        }
    }
}
