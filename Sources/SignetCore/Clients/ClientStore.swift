import Foundation
import Logging
import PostgresNIO

/// The `clients` table.
public struct ClientStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    public func create(_ new: Client, secretHash: String?) async throws -> Client {
        do {
            let rows = try await database.query(
                """
                INSERT INTO clients (client_id, client_name, secret_hash, token_endpoint_auth_method, grant_types, scopes,
                                     audience, access_token_lifetime_seconds, refresh_token_lifetime_seconds)
                VALUES (\(new.clientID), \(new.clientName), \(secretHash), \(new.authMethod.rawValue),
                        \(new.grantTypes.map(\.rawValue)), \(new.scopes), \(new.audience),
                        \(new.accessTokenLifetime), \(new.refreshTokenLifetime))
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            guard let created = try await Self.decode(rows).first(where: { _ in true })?.0 else { throw SignetError.clientNotFound }
            await database.changes.changed(.clients)
            return created
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw SignetError.clientIDTaken
        }
    }

    /// The client and its secret hash (nil for public clients).
    public func find(clientID: String) async throws -> (client: Client, secretHash: String?)? {
        let rows = try await database.query(
            "SELECT \(unescaped: Self.columns) FROM clients WHERE client_id = \(clientID)", logger: logger)
        for try await found in Self.decode(rows) { return found }
        return nil
    }

    /// Deletes the client; its sessions go with it (foreign key cascade). Whether it existed.
    /// Deletes the client (its sessions go with it) and records `event`, in one statement.
    /// Whether it existed.
    public func delete(clientID: String, event: AuditEvent) async throws -> Bool {
        try await database.changed(
            .clients,
            by: """
                WITH deleted AS (DELETE FROM clients WHERE client_id = \(clientID) RETURNING client_id),
                audit AS (
                    \(unescaped: AuditLog.insert)
                    SELECT \(event.type), NULL::uuid, client_id, NULL::uuid, \(event.remoteAddress), \(event.detailJSON)::jsonb
                    FROM deleted
                )
                SELECT client_id FROM deleted
                """, logger: logger)
    }

    public func list(after: String? = nil, limit: Int = 100) async throws -> [Client] {
        let rows = try await database.query(
            "SELECT \(unescaped: Self.columns) FROM clients WHERE client_id > \(after ?? "") ORDER BY client_id LIMIT \(limit)",
            logger: logger)
        var clients: [Client] = []
        for try await (client, _) in Self.decode(rows) { clients.append(client) }
        return clients
    }

    private static let columns = """
        client_id, client_name, token_endpoint_auth_method, grant_types, scopes, audience,
        access_token_lifetime_seconds, refresh_token_lifetime_seconds, created_at, secret_hash
        """

    private static func decode(_ rows: PostgresRowSequence) -> some AsyncSequence<(client: Client, secretHash: String?), any Error> {
        rows.decode((String, String?, String, [String], [String], String?, Int?, Int?, Date, String?).self).map { row in
            let client = Client(
                clientID: row.0, clientName: row.1, authMethod: ClientAuthMethod(rawValue: row.2) ?? .clientSecretBasic,
                grantTypes: row.3.compactMap(GrantType.init(rawValue:)), scopes: row.4, audience: row.5,
                accessTokenLifetime: row.6, refreshTokenLifetime: row.7, createdAt: row.8)
            return (client, row.9)
        }
    }
}
