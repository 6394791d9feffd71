import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// What nodes cache, and the tables whose changes invalidate it (see `0002_change_notifications.sql`).
public enum CachedTable: String, Sendable, CaseIterable {
    case signingKeys = "signing_keys"
    case clients
    case revokedTokens = "revoked_tokens"
    case sessions
    case users
    case browserSessions = "browser_sessions"
}

/// Fans out "table changed" to this node's caches. Stores announce their own writes here at once;
/// ``ChangeFeed`` relays every node's writes from PostgreSQL.
public final class ChangeHub: Sendable {
    public typealias Handler = @Sendable (CachedTable) async -> Void

    private let handlers = Mutex<[Handler]>([])

    public init() {}

    /// Calls `handler` for every change from now on.
    public func subscribe(_ handler: @escaping Handler) {
        handlers.withLock { $0.append(handler) }
    }

    public func changed(_ table: CachedTable) async {
        for handler in handlers.withLock({ $0 }) { await handler(table) }
    }

    /// Invalidates every cache.
    public func changedEverything() async {
        for table in CachedTable.allCases { await changed(table) }
    }
}
