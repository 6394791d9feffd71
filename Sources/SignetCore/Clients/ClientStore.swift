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
                                     audience, access_token_lifetime_seconds, refresh_token_lifetime_seconds,
                                     redirect_uris, post_logout_redirect_uris, require_pkce, skip_consent,
                                     id_token_signed_response_alg, require_mfa, allowed_networks, jwks,
                                     id_token_encrypted_response_alg, id_token_encrypted_response_enc,
                                     access_token_encrypted_response_alg, access_token_encrypted_response_enc,
                                     dpop_bound_access_tokens)
                VALUES (\(new.clientID), \(new.clientName), \(secretHash), \(new.authMethod.rawValue),
                        \(new.grantTypes.map(\.rawValue)), \(new.scopes), \(new.audience),
                        \(new.accessTokenLifetime), \(new.refreshTokenLifetime), \(new.redirectURIs),
                        \(new.postLogoutRedirectURIs), \(new.requirePKCE), \(new.skipConsent), \(new.idTokenAlgorithm.rawValue),
                        \(new.requireMFA), \(new.allowedNetworks.map(\.description)), \(new.jwks)::jsonb,
                        \(new.idTokenEncryption?.algorithm.rawValue), \(new.idTokenEncryption?.encryption.rawValue),
                        \(new.accessTokenEncryption?.algorithm.rawValue), \(new.accessTokenEncryption?.encryption.rawValue),
                        \(new.dpopBoundAccessTokens))
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
        access_token_lifetime_seconds, refresh_token_lifetime_seconds, created_at, secret_hash,
        redirect_uris, post_logout_redirect_uris, require_pkce, skip_consent, id_token_signed_response_alg, require_mfa,
        allowed_networks, jwks::text, id_token_encrypted_response_alg, id_token_encrypted_response_enc,
        access_token_encrypted_response_alg, access_token_encrypted_response_enc, dpop_bound_access_tokens
        """

    private static func encryption(_ alg: String?, _ enc: String?) -> TokenEncryption? {
        guard let algorithm = alg.flatMap(JWE.KeyAlgorithm.init(rawValue:)), let encryption = enc.flatMap(JWE.ContentEncryption.init(rawValue:))
        else { return nil }
        return TokenEncryption(algorithm: algorithm, encryption: encryption)
    }

    private static func decode(_ rows: PostgresRowSequence) -> some AsyncSequence<(client: Client, secretHash: String?), any Error> {
        rows.map { row in
            let cells = row.makeRandomAccess()
            let client = Client(
                clientID: try cells["client_id"].decode(String.self), clientName: try cells["client_name"].decode(String?.self),
                authMethod: ClientAuthMethod(rawValue: try cells["token_endpoint_auth_method"].decode(String.self)) ?? .clientSecretBasic,
                grantTypes: try cells["grant_types"].decode([String].self).compactMap(GrantType.init(rawValue:)),
                scopes: try cells["scopes"].decode([String].self), audience: try cells["audience"].decode(String?.self),
                accessTokenLifetime: try cells["access_token_lifetime_seconds"].decode(Int?.self),
                refreshTokenLifetime: try cells["refresh_token_lifetime_seconds"].decode(Int?.self),
                redirectURIs: try cells["redirect_uris"].decode([String].self),
                postLogoutRedirectURIs: try cells["post_logout_redirect_uris"].decode([String].self),
                requirePKCE: try cells["require_pkce"].decode(Bool.self), skipConsent: try cells["skip_consent"].decode(Bool.self),
                idTokenAlgorithm: SigningAlgorithm(rawValue: try cells["id_token_signed_response_alg"].decode(String.self)) ?? .rs256,
                requireMFA: try cells["require_mfa"].decode(Bool.self),
                allowedNetworks: try cells["allowed_networks"].decode([String].self).compactMap { try? IPNetwork(parsing: $0) },
                jwks: try cells["jwks"].decode(String?.self),
                idTokenEncryption: Self.encryption(
                    try cells["id_token_encrypted_response_alg"].decode(String?.self), try cells["id_token_encrypted_response_enc"].decode(String?.self)),
                accessTokenEncryption: Self.encryption(
                    try cells["access_token_encrypted_response_alg"].decode(String?.self),
                    try cells["access_token_encrypted_response_enc"].decode(String?.self)),
                dpopBoundAccessTokens: try cells["dpop_bound_access_tokens"].decode(Bool.self),
                createdAt: try cells["created_at"].decode(Date.self))
            return (client, try cells["secret_hash"].decode(String?.self))
        }
    }
}
