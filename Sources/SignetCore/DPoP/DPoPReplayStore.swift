import Foundation
import Logging
import PostgresNIO

/// The `dpop_proofs` table: every proof's `jti`, per key, until its `iat` window has passed, so
/// that a proof is accepted once across every node.
public struct DPoPReplayStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// Records `proof`; false when the same key used its `jti` before (a replay).
    public func firstUse(of proof: DPoPProof) async throws -> Bool {
        let rows = try await database.query(
            """
            INSERT INTO dpop_proofs (jkt, jti, expires_at)
            VALUES (\(proof.jkt), \(proof.jti), \(proof.issuedAt.addingTimeInterval(DPoPProof.window + 5)))
            ON CONFLICT (jkt, jti) DO NOTHING RETURNING jti
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }
}
