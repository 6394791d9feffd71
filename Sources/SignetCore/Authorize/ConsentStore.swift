import Foundation
import Logging
import PostgresNIO

/// The `consents` table: the scopes each user granted each client. A request within them asks
/// nothing; a new scope asks again.
public struct ConsentStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// Remembers that `userID` granted `scopes` to `clientID` (added to what was granted before)
    /// and records `event`, in one statement.
    public func grant(userID: UUID, clientID: String, scopes: [String], event: AuditEvent) async throws {
        try await database.query(
            """
            WITH granted AS (
                INSERT INTO consents AS c (user_id, client_id, scopes, granted_at)
                VALUES (\(userID), \(clientID), \(scopes), now())
                ON CONFLICT (user_id, client_id) DO UPDATE
                SET scopes = ARRAY(SELECT DISTINCT unnest(c.scopes || excluded.scopes) ORDER BY 1), granted_at = now()
                RETURNING user_id
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), user_id, \(clientID), \(event.sessionID), \(event.remoteAddress), \(event.detailJSON)::jsonb
                FROM granted
            )
            SELECT 1 FROM granted
            """, logger: logger)
    }

    /// A remembered consent.
    public struct Consent: Sendable, Equatable {
        public var clientID: String
        public var scopes: [String]
        public var grantedAt: Date
    }

    /// The user's consents, by client id.
    public func list(userID: UUID) async throws -> [Consent] {
        let rows = try await database.query(
            "SELECT client_id, scopes, granted_at FROM consents WHERE user_id = \(userID) ORDER BY client_id", logger: logger)
        var consents: [Consent] = []
        for try await (client, scopes, at) in rows.decode((String, [String], Date).self) {
            consents.append(Consent(clientID: client, scopes: scopes, grantedAt: at))
        }
        return consents
    }

    /// Withdraws the user's consent to `clientID` and ends that client's refresh families of the
    /// user, recording `event`; one statement. Whether there was a consent.
    public func withdraw(userID: UUID, clientID: String, event: AuditEvent) async throws -> Bool {
        try await database.changed(
            .sessions,
            by:
            """
            WITH withdrawn AS (
                DELETE FROM consents WHERE user_id = \(userID) AND client_id = \(clientID) RETURNING user_id
            ), ended AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = 'consent_withdrawn'
                WHERE user_id IN (SELECT user_id FROM withdrawn) AND client_id = \(clientID) AND revoked_at IS NULL
                RETURNING id
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), user_id, \(clientID), NULL::uuid, \(event.remoteAddress),
                       \(event.detailJSON)::jsonb || jsonb_build_object('refresh_families_ended', (SELECT count(*) FROM ended)::text)
                FROM withdrawn
            )
            SELECT 1 FROM withdrawn
            """, logger: logger)
    }
}
