import Foundation
import Logging
import PostgresNIO

/// The `signing_keys` table and its lifecycle next → current → retired → dropped.
///
/// Changes run in transactions holding one advisory lock, so nodes bootstrapping or rotating at
/// the same moment serialize and only one of them acts.
public struct KeyStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// Every key still published: next, current, and retired keys whose tokens may not have expired.
    public func published() async throws -> [StoredSigningKey] {
        let rows = try await database.query(
            """
            SELECT kid, alg, state, private_key_sealed, created_at, activated_at, publish_until
            FROM signing_keys WHERE state <> 'retired' OR publish_until > now()
            ORDER BY created_at
            """, logger: logger)
        var keys: [StoredSigningKey] = []
        for try await (kid, alg, state, sealed, created, activated, until) in rows.decode(
            (String, String, String, ByteBuffer, Date, Date?, Date?).self)
        {
            guard let algorithm = SigningAlgorithm(rawValue: alg), let state = StoredSigningKey.State(rawValue: state) else {
                continue
            }
            keys.append(StoredSigningKey(
                kid: kid, algorithm: algorithm, state: state, sealedPrivateKey: Data(buffer: sealed), createdAt: created,
                activatedAt: activated, publishUntil: until))
        }
        return keys
    }

    /// Makes sure each of `algorithms` has a current and a next key, creating them with `make`
    /// when missing. Returns whether it created any. When nothing is missing (the usual case) this
    /// is one read; keys are made before the lock is taken (an RSA key takes a while).
    @discardableResult
    public func ensureCurrentAndNext(
        algorithms: [SigningAlgorithm], make: (SigningAlgorithm) throws -> NewSigningKey
    ) async throws -> Bool {
        let present = try await Self.states(on: database, logger: logger)
        let missing = algorithms.filter { !present.contains($0.rawValue + "/current") || !present.contains($0.rawValue + "/next") }
        if missing.isEmpty { return false }
        var made: [SigningAlgorithm: [NewSigningKey]] = [:]
        for algorithm in missing { made[algorithm] = [try make(algorithm), try make(algorithm)] }
        return try await database.withTransaction(logger: logger) { connection in
            try await Self.lock(connection, logger: logger)
            var states: Set<String> = []
            for try await (alg, state) in try await connection.query(
                "SELECT alg, state FROM signing_keys WHERE state IN ('current', 'next')", logger: logger
            ).decode((String, String).self) {
                states.insert(alg + "/" + state)
            }
            var created = false
            for algorithm in missing {
                let alg = algorithm.rawValue
                var keys = made[algorithm] ?? []
                let hasCurrent = states.contains(alg + "/current"), hasNext = states.contains(alg + "/next")
                if !hasCurrent {
                    if hasNext {
                        try await connection.query(
                            "UPDATE signing_keys SET state = 'current', activated_at = now() WHERE state = 'next' AND alg = \(alg)",
                            logger: logger)
                    } else {
                        try await Self.insert(keys.removeFirst(), state: "current", on: connection, logger: logger)
                    }
                }
                if !hasNext || !hasCurrent {
                    try await Self.insert(keys.removeFirst(), state: "next", on: connection, logger: logger)
                    created = true
                }
            }
            return created
        }
    }

    /// The ID-token algorithms of the clients that can sign users in (`authorization_code`).
    public func idTokenAlgorithms() async throws -> [SigningAlgorithm] {
        var algorithms: [SigningAlgorithm] = []
        for try await name in try await database.query(
            """
            -- The distinct values by skipping through the partial index (a probe per algorithm in
            -- use), where DISTINCT would read an entry per code-flow client.
            WITH RECURSIVE used (alg) AS (
                (SELECT id_token_signed_response_alg FROM clients WHERE 'authorization_code' = ANY (grant_types)
                 ORDER BY 1 DESC LIMIT 1)
                UNION ALL
                SELECT (SELECT id_token_signed_response_alg FROM clients
                        WHERE 'authorization_code' = ANY (grant_types) AND id_token_signed_response_alg < used.alg
                        ORDER BY 1 DESC LIMIT 1)
                FROM used WHERE used.alg IS NOT NULL
            )
            SELECT alg FROM used WHERE alg IS NOT NULL ORDER BY 1 DESC
            """, logger: logger
        ).decode(String.self) {
            if let algorithm = SigningAlgorithm(rawValue: name) { algorithms.append(algorithm) }
        }
        return algorithms
    }

    /// "alg/state" of every current and next key.
    private static func states(on database: Database, logger: Logger) async throws -> Set<String> {
        var states: Set<String> = []
        for try await (alg, state) in try await database.query(
            "SELECT alg, state FROM signing_keys WHERE state IN ('current', 'next')", logger: logger
        ).decode((String, String).self) {
            states.insert(alg + "/" + state)
        }
        return states
    }

    /// The outcome of a rotation request.
    public enum RotationResult: Sendable, Equatable {
        /// `current` and `next` are the kids of the first algorithm rotated (the access tokens').
        case rotated(current: String, next: String)
        /// Another node rotated first: the current key is no longer `expectedCurrent`.
        case alreadyRotated(current: String)
        /// A next key was published too recently for JWKS caches to know it yet.
        case nextTooNew(publishedSeconds: Int)
    }

    /// For each of `algorithms` (the first decides `expectedCurrent` and the answer): retires the
    /// current key (published `retiredPublishSeconds` longer), promotes the next one, stores a new
    /// next key from `make`; then drops retired keys whose tokens have all expired.
    ///
    /// - Parameters:
    ///   - expectedCurrent: rotate only if this is still the first algorithm's current kid.
    ///   - minimumNextAge: refuse when a next key is younger than this (caches would miss it).
    public func rotate(
        algorithms: [SigningAlgorithm],
        expectedCurrent: String? = nil,
        minimumNextAge: Int,
        retiredPublishSeconds: Int,
        make: (SigningAlgorithm) throws -> NewSigningKey
    ) async throws -> RotationResult {
        let newKeys = try algorithms.map { try make($0) }
        return try await database.withTransaction(logger: logger) { connection in
            try await Self.lock(connection, logger: logger)
            var currents: [String: String] = [:], youngestNext = Int.max
            for try await (kid, alg, state, age) in try await connection.query(
                """
                SELECT kid, alg, state, extract(epoch FROM now() - created_at)::int FROM signing_keys
                WHERE state IN ('current', 'next')
                """, logger: logger
            ).decode((String, String, String, Int).self) {
                guard algorithms.contains(where: { $0.rawValue == alg }) else { continue }
                if state == "current" { currents[alg] = kid } else { youngestNext = min(youngestNext, age) }
            }
            let first = algorithms[0].rawValue
            if let expectedCurrent, let current = currents[first], current != expectedCurrent {
                return .alreadyRotated(current: current)
            }
            if youngestNext != Int.max && youngestNext < minimumNextAge {
                return .nextTooNew(publishedSeconds: youngestNext)
            }
            var answer: RotationResult?
            for (algorithm, newNext) in zip(algorithms, newKeys) {
                let alg = algorithm.rawValue
                try await connection.query(
                    """
                    UPDATE signing_keys SET state = 'retired', retired_at = now(),
                        publish_until = now() + make_interval(secs => \(retiredPublishSeconds))
                    WHERE state = 'current' AND alg = \(alg)
                    """, logger: logger)
                var promoted: String?
                for try await kid in try await connection.query(
                    "UPDATE signing_keys SET state = 'current', activated_at = now() WHERE state = 'next' AND alg = \(alg) RETURNING kid",
                    logger: logger
                ).decode(String.self) {
                    promoted = kid
                }
                try await Self.insert(newNext, state: promoted == nil ? "current" : "next", on: connection, logger: logger)
                if answer == nil { answer = .rotated(current: promoted ?? newNext.kid, next: newNext.kid) }
            }
            try await connection.query(
                "DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= now()", logger: logger)
            return answer!
        }
    }

    /// When the current key of `algorithm` started signing, for the automatic rotation schedule.
    public func currentActivation(of algorithm: SigningAlgorithm) async throws -> (kid: String, activatedAt: Date)? {
        let rows = try await database.query(
            """
            SELECT kid, coalesce(activated_at, created_at) FROM signing_keys WHERE state = 'current' AND alg = \(algorithm.rawValue)
            """, logger: logger)
        for try await (kid, at) in rows.decode((String, Date).self) { return (kid, at) }
        return nil
    }

    /// The stored check value of the master key, storing `candidate` first if there is none yet.
    public func masterKeyCheck(storingIfAbsent candidate: Data) async throws -> Data {
        let rows = try await database.query(
            """
            WITH stored AS (
                INSERT INTO master_key_check (check_value) VALUES (\(candidate)) ON CONFLICT (singleton) DO NOTHING
                RETURNING check_value
            )
            SELECT check_value FROM stored UNION ALL SELECT check_value FROM master_key_check
            """, logger: logger)
        for try await value in rows.decode(Data.self) { return value }
        // Another node stored one after this statement's snapshot was taken: read it.
        let again = try await database.query("SELECT check_value FROM master_key_check", logger: logger)
        for try await value in again.decode(Data.self) { return value }
        throw MasterKeyError.mismatch
    }

    private static func lock(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtext('signet.signing_keys.' || current_schema()))", logger: logger)
    }

    private static func insert(
        _ key: NewSigningKey, state: String,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO signing_keys (kid, alg, state, private_key_sealed, public_jwk, activated_at)
            VALUES (\(key.kid), \(key.algorithm.rawValue), \(state), \(ByteBuffer(data: key.sealed)), \(key.publicJWK)::jsonb,
                    CASE WHEN \(state) = 'current' THEN now() END)
            """, logger: logger)
    }
}
