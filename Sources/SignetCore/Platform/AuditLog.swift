import Foundation
import Logging
import PostgresNIO

/// Writes and reads `audit_events`.
public struct AuditLog: Sendable {
    let database: Database
    let logger: Logger

    /// The one way an audit row is written, inside any statement: followed by
    /// `VALUES (…)` or `SELECT …` giving type, user_id, client_id, session_id, remote_addr, detail.
    static let insert = "INSERT INTO audit_events (type, user_id, client_id, session_id, remote_addr, detail)"

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    public func record(_ event: AuditEvent) async throws {
        try await database.query(
            """
            \(unescaped: AuditLog.insert)
            VALUES (\(event.type), \(event.userID), \(event.clientID), \(event.sessionID), \(event.remoteAddress),
                    \(event.detailJSON)::jsonb)
            """, logger: logger)
    }

    /// A stored event with its id and time.
    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var at: Date
        public var event: AuditEvent
    }

    /// Events newest first, optionally only one user's or one type, `limit` at a time before `beforeID`.
    public func events(userID: UUID? = nil, type: String? = nil, beforeID: Int64? = nil, limit: Int = 100) async throws -> [Entry] {
        let rows = try await database.query(
            """
            SELECT id, at, type, user_id, client_id, session_id, remote_addr, detail::text FROM audit_events
            WHERE id IN (
                -- Only ids first: an index-only scan of the (type, id) or (user_id, id) index finds the
                -- page even when the newest events are all of other types, which a backward walk of
                -- the primary key filtering on type would read through one by one.
                SELECT id FROM audit_events
                WHERE (\(userID?.uuidString ?? "")::text = '' OR user_id = \(userID))
                  AND (\(type ?? "") = '' OR type = \(type ?? ""))
                  AND id < \(beforeID ?? Int64.max)
                ORDER BY id DESC LIMIT \(limit))
            ORDER BY id DESC
            """, logger: logger)
        var entries: [Entry] = []
        for try await (id, at, type, user, client, session, remote, detail) in rows.decode(
            (Int64, Date, String, UUID?, String?, UUID?, String?, String).self)
        {
            let details = (try? JSONDecoder().decode([String: String].self, from: Data(detail.utf8))) ?? [:]
            entries.append(Entry(id: id, at: at, event: AuditEvent(
                type, userID: user, clientID: client, sessionID: session, remoteAddress: remote, detail: details)))
        }
        return entries
    }
}
