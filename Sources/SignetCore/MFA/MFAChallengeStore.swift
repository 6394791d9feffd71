import Foundation
import Logging
import PostgresNIO

/// The `mfa_challenges` table: second-factor steps in progress, each live for a few minutes.
public struct MFAChallengeStore: Sendable {
    let database: Database
    let logger: Logger

    /// How long a password step waits for its second factor.
    public static let lifetimeSeconds = 300

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// Stores `challenge`, replacing the user's other pending challenges for the same browser
    /// session (a user starts at most one second-factor step at a time per sign-in).
    func create(_ challenge: NewMFAChallenge) async throws {
        try await database.query(
            """
            INSERT INTO mfa_challenges (id, secret_hash, user_id, user_generation, purpose, pending_secret_sealed,
                                        browser_session_id, auth_time, expires_at)
            VALUES (\(challenge.id), \(challenge.secret.hash), \(challenge.userID),
                    coalesce(\(challenge.generation), (SELECT token_generation FROM users WHERE id = \(challenge.userID))),
                    \(challenge.purpose.rawValue), \(challenge.pendingSecretSealed), \(challenge.browserSessionID),
                    \(challenge.authTime), now() + make_interval(secs => \(Self.lifetimeSeconds)::int))
            """, logger: logger)
    }

    /// The unexpired challenge behind `secret` whose user is still enabled and in the generation
    /// it was created under (a password change or revocation since voids it).
    func find(secret: SecretToken) async throws -> MFAChallenge? {
        let rows = try await database.query(
            """
            SELECT m.id, m.user_generation, m.purpose, m.pending_secret_sealed, m.browser_session_id, m.auth_time,
                   u.id, u.username, u.email, u.roles, u.disabled, u.created_at
            FROM mfa_challenges m JOIN users u ON u.id = m.user_id
            WHERE m.secret_hash = \(secret.hash) AND m.expires_at > now()
              AND u.token_generation = m.user_generation AND NOT u.disabled
            """, logger: logger)
        for try await (id, generation, purpose, sealed, browserSessionID, authTime, userID, username, email, roles, disabled, created)
            in rows.decode((UUID, Int64, String, Data?, UUID?, Date, UUID, String, String?, [String], Bool, Date).self)
        {
            guard let purpose = MFAChallenge.Purpose(rawValue: purpose) else { return nil }
            return MFAChallenge(
                id: id, user: User(id: userID, username: username, email: email, roles: roles, disabled: disabled, createdAt: created),
                generation: generation, purpose: purpose, pendingSecretSealed: sealed, browserSessionID: browserSessionID,
                authTime: authTime)
        }
        return nil
    }

    /// Removes a finished challenge; whether this call did (so only one of two racing ends it).
    func finish(id: UUID) async throws -> Bool {
        let rows = try await database.query("DELETE FROM mfa_challenges WHERE id = \(id) RETURNING id", logger: logger)
        for try await _ in rows { return true }
        return false
    }
}
