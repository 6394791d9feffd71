import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Removes what has served its purpose, on every node every `retention.interval_seconds`
/// (removals are idempotent, so nodes need no coordination): sessions that ended (revoked or
/// expired) longer ago than `retention.ended_session_days`, revoked access tokens past their
/// expiry, login failure counters nobody has touched for a day beyond the longest back-off, and
/// audit events older than `retention.audit_days`. Deletes run in batches so no statement holds
/// locks for long.
public struct RetentionCleaner: Service {
    let database: Database
    let settings: Settings
    let logger: Logger
    static let batch = 5000

    public init(database: Database, settings: Settings) {
        self.database = database
        self.settings = settings
        logger = database.logger
    }

    /// What one pass removed, by kind.
    public struct Removed: Sendable, Equatable {
        public var sessions = 0
        public var revokedTokens = 0
        public var loginFailures = 0
        public var auditEvents = 0
        public var browserSessions = 0
        public var authorizationCodes = 0
        /// Second-factor steps that expired unfinished.
        public var secondFactorSteps = 0
        /// DPoP proofs past their `iat` window (their `jti` cannot be replayed any more).
        public var dpopProofs = 0

        public init(sessions: Int = 0, revokedTokens: Int = 0, loginFailures: Int = 0, auditEvents: Int = 0) {
            self.sessions = sessions
            self.revokedTokens = revokedTokens
            self.loginFailures = loginFailures
            self.auditEvents = auditEvents
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(settings.retention.intervalSeconds))
                do {
                    let removed = try await clean()
                    logger.info("retention clean-up", metadata: [
                        "sessions": "\(removed.sessions)", "revoked_tokens": "\(removed.revokedTokens)",
                        "login_failures": "\(removed.loginFailures)", "audit_events": "\(removed.auditEvents)",
                    ])
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("retention clean-up failed", metadata: ["reason": "\(Database.describe(error) ?? "\(error)")"])
                }
            }
        }
    }

    /// One pass over every kind.
    public func clean() async throws -> Removed {
        let retention = settings.retention
        let endedDays = Double(retention.endedSessionDays), idle = Double(settings.lifetimes.refreshIdleSeconds)
        var removed = Removed()
        removed.sessions = try await repeatedly {
            """
            WITH gone AS (DELETE FROM sessions WHERE id IN (
                SELECT id FROM sessions
                WHERE coalesce(revoked_at, least(expires_at, last_used_at + make_interval(secs => \(idle))))
                      < now() - make_interval(days => \(Int(endedDays))::int)
                LIMIT \(Self.batch)) RETURNING 1)
            SELECT count(*)::int FROM gone
            """
        }
        // Browser sessions, like refresh families, stay listed a while after they end; codes go
        // once they cannot be exchanged any more (a used one a little later, so that its reuse is
        // still recognised and revokes what it issued).
        let browserIdle = Double(settings.browser.sessionIdleSeconds)
        removed.browserSessions = try await repeatedly {
            """
            WITH gone AS (DELETE FROM browser_sessions WHERE id IN (
                SELECT id FROM browser_sessions
                WHERE coalesce(revoked_at, least(expires_at, last_seen_at + make_interval(secs => \(browserIdle))))
                      < now() - make_interval(days => \(Int(endedDays))::int)
                LIMIT \(Self.batch)) RETURNING 1)
            SELECT count(*)::int FROM gone
            """
        }
        removed.authorizationCodes = try await repeatedly {
            """
            WITH gone AS (DELETE FROM authorization_codes WHERE code_hash IN (
                SELECT code_hash FROM authorization_codes WHERE expires_at < now() - interval '1 day' LIMIT \(Self.batch))
                RETURNING 1)
            SELECT count(*)::int FROM gone
            """
        }
        removed.secondFactorSteps = try await repeatedly {
            """
            WITH gone AS (DELETE FROM mfa_challenges WHERE id IN (
                SELECT id FROM mfa_challenges WHERE expires_at < now() LIMIT \(Self.batch)) RETURNING 1)
            SELECT count(*)::int FROM gone
            """
        }
        removed.dpopProofs = try await repeatedly {
            """
            WITH gone AS (DELETE FROM dpop_proofs WHERE (jkt, jti) IN (
                SELECT jkt, jti FROM dpop_proofs WHERE expires_at < now() LIMIT \(Self.batch)) RETURNING 1)
            SELECT count(*)::int FROM gone
            """
        }
        removed.revokedTokens = try await repeatedly {
            """
            WITH gone AS (DELETE FROM revoked_tokens WHERE jti IN (
                SELECT jti FROM revoked_tokens WHERE expires_at < now() - interval '5 minutes' LIMIT \(Self.batch))
                RETURNING 1)
            SELECT count(*)::int FROM gone
            """
        }
        removed.loginFailures = try await repeatedly {
            """
            WITH gone AS (DELETE FROM login_failures WHERE (user_id, source) IN (
                SELECT user_id, source FROM login_failures
                WHERE updated_at < now() - make_interval(secs => \(Double(settings.lockout.maximumSeconds + 86_400)))
                  AND (locked_until IS NULL OR locked_until < now())
                LIMIT \(Self.batch)) RETURNING 1)
            SELECT count(*)::int FROM gone
            """
        }
        let auditDays = retention.auditDays
        removed.auditEvents = try await repeatedly { [logger] in
            // The append-only trigger lets only a transaction marked this way delete.
            try await database.withTransaction(logger: logger) { connection in
                for try await _ in try await connection.query("SELECT set_config('signet.audit_retention', 'on', true)", logger: logger) {}
                let rows = try await connection.query(
                    """
                    WITH gone AS (
                        DELETE FROM audit_events WHERE id IN (
                            SELECT id FROM audit_events WHERE at < now() - make_interval(days => \(auditDays)::int)
                            ORDER BY id LIMIT \(Self.batch))
                        RETURNING 1)
                    SELECT count(*)::int FROM gone
                    """, logger: logger)
                for try await count in rows.decode(Int.self) { return count }
                return 0
            }
        }
        return removed
    }

    /// Runs a batched delete (answering its count) until a batch removes fewer rows than the
    /// batch size; the total.
    private func repeatedly(_ statement: () -> PostgresQuery) async throws -> Int {
        try await repeatedly { [database, logger] in
            let rows = try await database.query(statement(), logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    private func repeatedly(_ batch: () async throws -> Int) async throws -> Int {
        var total = 0
        while true {
            let count = try await batch()
            total += count
            if count < Self.batch { return total }
        }
    }
}
