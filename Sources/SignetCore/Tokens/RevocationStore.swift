import Foundation
import Logging
import PostgresNIO

/// The revocation list: `revoked_tokens` (access-token `jti`s until their `exp`), plus the
/// revocation columns of `sessions` and `users`. Every change writes its audit event in the same
/// statement.
public struct RevocationStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// Puts `jti` on the list until `expiresAt`; also drops entries that have expired.
    /// Whether it was newly added.
    @discardableResult
    public func revoke(jti: String, expiresAt: Date, sessionID: UUID?, reason: String, event: AuditEvent) async throws -> Bool {
        try await database.changed(
            .revokedTokens,
            by:
            """
            WITH purged AS (
                DELETE FROM revoked_tokens WHERE expires_at < now() - interval '5 minutes'
            ), added AS (
                INSERT INTO revoked_tokens (jti, expires_at, session_id, reason)
                VALUES (\(jti), \(expiresAt), \(sessionID), \(reason))
                ON CONFLICT (jti) DO NOTHING
                RETURNING jti
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), \(event.userID), \(event.clientID), \(event.sessionID), \(event.remoteAddress),
                       \(event.detailJSON)::jsonb
                FROM added
            )
            SELECT jti FROM added
            """, logger: logger)
    }

    /// Ends every token of a user issued before now: sets the user's cutoff and revokes their live
    /// sessions. Whether the user exists.
    public func revokeUser(id: UUID, reason: String, event: AuditEvent) async throws -> Bool {
        try await database.changed(
            .users,
            by:
            """
            WITH cutoff AS (
                UPDATE users SET \(unescaped: UserStore.cutOff), updated_at = now() WHERE id = \(id) RETURNING id
            ), ended AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = \(reason)
                WHERE user_id IN (SELECT id FROM cutoff) AND revoked_at IS NULL
                RETURNING id
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), id, \(event.clientID), NULL::uuid, \(event.remoteAddress),
                       \(event.detailJSON)::jsonb || jsonb_build_object('sessions_ended', (SELECT count(*) FROM ended)::text)
                FROM cutoff
            )
            SELECT id FROM cutoff
            """, logger: logger)
    }

    /// Revoked access tokens that have not yet expired, ordered by `jti`, after `after`.
    public func tokens(after: String? = nil, limit: Int) async throws -> [RevokedToken] {
        let rows = try await database.query(
            """
            SELECT jti, expires_at FROM revoked_tokens
            WHERE expires_at > now() AND jti > \(after ?? "")
            ORDER BY jti LIMIT \(limit)
            """, logger: logger)
        var tokens: [RevokedToken] = []
        for try await (jti, expires) in rows.decode((String, Date).self) { tokens.append(RevokedToken(jti: jti, expiresAt: expires)) }
        return tokens
    }

    /// A keyset position in the revoked-session list: the exact `revoked_at` (as PostgreSQL
    /// prints it, so no precision is lost) and the id. Opaque text to clients.
    public struct SessionCursor: Sendable, Equatable {
        var revokedAt: String
        var id: UUID

        public init?(_ text: String) {
            guard let data = Data(base64URLEncoded: text), let decoded = String(data: data, encoding: .utf8),
                  let bar = decoded.lastIndex(of: "|"), let id = UUID(uuidString: String(decoded[decoded.index(after: bar)...]))
            else { return nil }
            let at = String(decoded[..<bar])
            // Exactly as PostgreSQL prints a timestamptz, e.g. 2026-11-26 03:10:12.345678+00.
            guard at.range(of: #"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$"#, options: .regularExpression) != nil
            else { return nil }
            revokedAt = at
            self.id = id
        }

        init(revokedAt: String, id: UUID) {
            self.revokedAt = revokedAt
            self.id = id
        }

        public var text: String { Data("\(revokedAt)|\(id.uuidString)".utf8).base64URLEncodedString() }
    }

    /// Revoked sessions, most recent first, after the cursor.
    public func sessions(before cursor: SessionCursor? = nil, limit: Int) async throws -> [RevokedSession] {
        // Without a cursor: everything before the end of time (the id then never decides).
        let at = cursor?.revokedAt ?? "infinity", id = cursor?.id ?? UUID()
        let rows = try await database.query(
            """
            SELECT id, revoked_at, revoked_at::text AS cursor_at, revoked_reason FROM (
                -- Each side walks its revoked_at index and stops after a page: the merge needs no more.
                (SELECT id, revoked_at, revoked_reason FROM sessions
                 WHERE revoked_at IS NOT NULL AND revoked_at <= \(at)::timestamptz AND (revoked_at, id) < (\(at)::timestamptz, \(id))
                 ORDER BY revoked_at DESC, id DESC LIMIT \(limit))
                UNION ALL
                -- Browser sessions: their ids are the `sid` of ID tokens and code-flow access tokens.
                (SELECT id, revoked_at, revoked_reason FROM browser_sessions
                 WHERE revoked_at IS NOT NULL AND revoked_at <= \(at)::timestamptz AND (revoked_at, id) < (\(at)::timestamptz, \(id))
                 ORDER BY revoked_at DESC, id DESC LIMIT \(limit))
            ) ended
            ORDER BY revoked_at DESC, id DESC LIMIT \(limit)
            """, logger: logger)
        var sessions: [RevokedSession] = []
        for try await (id, at, atText, reason) in rows.decode((UUID, Date, String, String).self) {
            sessions.append(RevokedSession(sessionID: id, revokedAt: at, reason: reason, cursor: SessionCursor(revokedAt: atText, id: id)))
        }
        return sessions
    }
}
