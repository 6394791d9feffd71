import Foundation
import Logging
import PostgresNIO

/// A security event, as written to the append-only `audit_events` table.
/// `detail` holds non-secret facts only (never a password, token or secret).
public struct AuditEvent: Sendable, Equatable {
    public var type: String
    public var userID: UUID?
    public var clientID: String?
    public var sessionID: UUID?
    public var remoteAddress: String?
    public var detail: [String: String]

    public init(
        _ type: String, userID: UUID? = nil, clientID: String? = nil, sessionID: UUID? = nil,
        remoteAddress: String? = nil, detail: [String: String] = [:]
    ) {
        self.type = type
        self.userID = userID
        self.clientID = clientID
        self.sessionID = sessionID
        self.remoteAddress = remoteAddress
        self.detail = detail
    }

    var detailJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? String(decoding: encoder.encode(detail), as: UTF8.self)) ?? "{}"
    }
}

/// Who asked, for audit events: the peer address and, for administrative changes, the actor
/// (an admin's user id, or `cli` for the command line).
public struct RequestOrigin: Sendable, Equatable {
    public var remoteAddress: String?
    public var actor: String?

    public init(remoteAddress: String? = nil, actor: String? = nil) {
        self.remoteAddress = remoteAddress
        self.actor = actor
    }

    /// The command line on this machine.
    public static let commandLine = RequestOrigin(actor: "cli")

    /// An audit event of `type` from this origin, with `actor` added to `detail` when known.
    public func event(
        _ type: String, userID: UUID? = nil, clientID: String? = nil, sessionID: UUID? = nil, detail: [String: String] = [:]
    ) -> AuditEvent {
        var detail = detail
        if let actor { detail["actor"] = actor }
        return AuditEvent(type, userID: userID, clientID: clientID, sessionID: sessionID, remoteAddress: remoteAddress, detail: detail)
    }
}

/// Writes and reads `audit_events`.
public struct AuditLog: Sendable {
    let client: Database
    let logger: Logger

    public init(database: Database) {
        client = database
        logger = database.logger
    }

    public func record(_ event: AuditEvent) async throws {
        try await client.query(
            """
            INSERT INTO audit_events (type, user_id, client_id, session_id, remote_addr, detail)
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
        let rows = try await client.query(
            """
            SELECT id, at, type, user_id, client_id, session_id, remote_addr, detail::text FROM audit_events
            WHERE (\(userID?.uuidString ?? "")::text = '' OR user_id = \(userID))
              AND (\(type ?? "") = '' OR type = \(type ?? ""))
              AND id < \(beforeID ?? Int64.max)
            ORDER BY id DESC LIMIT \(limit)
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
