import Foundation
import PostgresNIO
import SignetCore
import SignetTestSupport
import Testing

@Suite("Retention clean-up", .timeLimit(.minutes(2)))
struct RetentionTests {
    @Test func onlyWhatHasOutlivedItsRetentionIsRemoved() async throws {
        try await TestServices.with(overrides: ["retention.audit_days": 30, "retention.ended_session_days": 7]) { t in
            let user = try await t.user("rita")
            try await t.client("web")
            _ = try await t.login("rita", client: "web")
            let db = t.database
            func run(_ sql: String) async throws { try await db.client.query(PostgresQuery(unsafeSQL: sql), logger: db.logger) }
            // Ended long ago, ended recently, expired long ago, live.
            for (revoked, expires) in [("now() - interval '8 days'", "now() + interval '1 day'"),
                                       ("now() - interval '1 day'", "now() + interval '1 day'"),
                                       ("NULL", "now() - interval '8 days'")] {
                try await run("""
                    INSERT INTO sessions (user_id, client_id, created_at, last_used_at, expires_at, revoked_at, revoked_reason)
                    VALUES ('\(user.id)', 'web', now() - interval '20 days', now() - interval '9 days', \(expires), \(revoked),
                            CASE WHEN \(revoked) IS NULL THEN NULL ELSE 'test' END)
                    """)
            }
            try await run("INSERT INTO revoked_tokens (jti, expires_at) VALUES ('old', now() - interval '1 hour'), ('live', now() + interval '1 hour')")
            try await run("INSERT INTO login_failures (user_id, source, failures, updated_at) VALUES ('\(user.id)', '198.51.100.1', 2, now() - interval '3 days'), ('\(user.id)', '198.51.100.2', 2, now())")
            try await run("INSERT INTO audit_events (type, at) VALUES ('ancient', now() - interval '31 days')")
            let auditBefore: [Int] = try await db.column("SELECT count(*)::int FROM audit_events")

            let removed = try await RetentionCleaner(database: db, settings: t.settings).clean()

            #expect(removed == .init(sessions: 2, revokedTokens: 1, loginFailures: 1, auditEvents: 1))
            #expect(try await db.column("SELECT count(*)::int FROM sessions") == [2], "the live login and the recently ended one stay")
            #expect(try await db.column("SELECT jti FROM revoked_tokens") == ["live"])
            #expect(try await db.column("SELECT source FROM login_failures") == ["198.51.100.2"])
            #expect(try await db.column("SELECT count(*)::int FROM audit_events") == [auditBefore[0] - 1])
            await #expect(throws: (any Error).self, "outside the clean-up the audit trail stays append-only") {
                try await run("DELETE FROM audit_events")
            }
        }
    }
}
