import Foundation
import Logging
import PostgresNIO

/// The `totp_credentials` and `recovery_codes` tables: a user's second factor. Secrets go in
/// sealed and recovery codes hashed; neither is ever read back out of Signet.
public struct SecondFactorStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// What admins see of a user's second factor.
    public struct Status: Sendable, Equatable {
        public var totp: Bool
        public var recoveryCodesLeft: Int

        public init(totp: Bool, recoveryCodesLeft: Int) {
            self.totp = totp
            self.recoveryCodesLeft = recoveryCodesLeft
        }
    }

    public func status(userID: UUID) async throws -> Status {
        let rows = try await database.query(
            """
            SELECT EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = \(userID)),
                   (SELECT count(*) FROM recovery_codes WHERE user_id = \(userID) AND used_at IS NULL)::int
            """, logger: logger)
        for try await (totp, left) in rows.decode((Bool, Int32).self) {
            return Status(totp: totp, recoveryCodesLeft: Int(left))
        }
        return Status(totp: false, recoveryCodesLeft: 0)
    }

    /// The sealed TOTP secret of `userID` and the last step used, if the user has one.
    func sealedSecret(userID: UUID) async throws -> (sealed: Data, lastStep: Int64)? {
        let rows = try await database.query(
            "SELECT secret_sealed, last_used_step FROM totp_credentials WHERE user_id = \(userID)", logger: logger)
        for try await (sealed, step) in rows.decode((Data, Int64).self) { return (sealed, step) }
        return nil
    }

    /// Spends `step` of the user's TOTP: only if it is later than every step used before (a code
    /// is good once, and an older one never after a newer). Whether it was still unspent.
    func spend(step: Int64, userID: UUID) async throws -> Bool {
        let rows = try await database.query(
            """
            UPDATE totp_credentials SET last_used_step = \(step)
            WHERE user_id = \(userID) AND last_used_step < \(step) RETURNING user_id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Stores a confirmed TOTP secret (its confirming `step` already spent) and a new set of
    /// recovery codes, replacing any old ones, and audits `event` — only if the user has no TOTP
    /// yet (a concurrent enrolment loses). Whether it did.
    func enrol(userID: UUID, sealed: Data, step: Int64, recoveryHashes: [Data], event: AuditEvent) async throws -> Bool {
        let rows = try await database.query(
            """
            WITH credential AS (
                INSERT INTO totp_credentials (user_id, secret_sealed, last_used_step) VALUES (\(userID), \(sealed), \(step))
                ON CONFLICT (user_id) DO NOTHING RETURNING user_id
            ), dropped AS (
                DELETE FROM recovery_codes WHERE user_id IN (SELECT user_id FROM credential)
            ), codes AS (
                INSERT INTO recovery_codes (user_id, code_hash)
                SELECT c.user_id, decode(h, 'hex') FROM credential c, unnest(\(recoveryHashes.map(\.hex))::text[]) AS h
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), user_id, \(event.clientID), NULL::uuid, \(event.remoteAddress), \(event.detailJSON)::jsonb
                FROM credential
            )
            SELECT user_id FROM credential
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Replaces the user's recovery codes with new ones (audited `recovery_codes_regenerated`).
    func replaceRecoveryCodes(userID: UUID, hashes: [Data], event: AuditEvent) async throws {
        try await database.query(
            """
            WITH dropped AS (
                DELETE FROM recovery_codes WHERE user_id = \(userID)
            ), codes AS (
                INSERT INTO recovery_codes (user_id, code_hash) SELECT \(userID), decode(h, 'hex') FROM unnest(\(hashes.map(\.hex))::text[]) AS h
            )
            \(unescaped: AuditLog.insert)
            VALUES (\(event.type), \(userID), \(event.clientID), NULL::uuid, \(event.remoteAddress), \(event.detailJSON)::jsonb)
            """, logger: logger)
    }

    /// Uses up the recovery code whose hash is `hash` and audits `event` with the number left, in
    /// one statement; the number left, or nil if there was no such unused code.
    func useRecoveryCode(userID: UUID, hash: Data, event: AuditEvent) async throws -> Int? {
        let rows = try await database.query(
            """
            WITH used AS (
                UPDATE recovery_codes SET used_at = now()
                WHERE user_id = \(userID) AND code_hash = \(hash) AND used_at IS NULL
                RETURNING user_id
            ), remaining AS (
                SELECT (count(*) - 1)::int AS n FROM recovery_codes
                WHERE user_id = \(userID) AND used_at IS NULL AND EXISTS (SELECT 1 FROM used)
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), user_id, \(event.clientID), NULL::uuid, \(event.remoteAddress),
                       \(event.detailJSON)::jsonb || jsonb_build_object('recovery_codes_left', (SELECT n FROM remaining)::text)
                FROM used
            )
            SELECT n FROM remaining, used
            """, logger: logger)
        for try await left in rows.decode(Int32.self) { return Int(left) }
        return nil
    }

    /// Removes the user's second factor (TOTP, recovery codes, pending challenges), ends every
    /// session and token issued to them so far, and audits `event`; one statement. Whether the
    /// user exists.
    func reset(userID: UUID, event: AuditEvent) async throws -> Bool {
        try await database.changed(
            .users,
            by:
            """
            WITH cutoff AS (
                UPDATE users SET \(unescaped: UserStore.cutOff), updated_at = now() WHERE id = \(userID) RETURNING id
            ), credential AS (
                DELETE FROM totp_credentials WHERE user_id IN (SELECT id FROM cutoff) RETURNING user_id
            ), codes AS (
                DELETE FROM recovery_codes WHERE user_id IN (SELECT id FROM cutoff)
            ), challenges AS (
                DELETE FROM mfa_challenges WHERE user_id IN (SELECT id FROM cutoff)
            ), ended AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = 'mfa_reset'
                WHERE user_id IN (SELECT id FROM cutoff) AND revoked_at IS NULL
                RETURNING id
            ), browsers AS (
                UPDATE browser_sessions SET revoked_at = now(), revoked_reason = 'mfa_reset'
                WHERE user_id IN (SELECT id FROM cutoff) AND revoked_at IS NULL
                RETURNING id
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT \(event.type), id, \(event.clientID), NULL::uuid, \(event.remoteAddress),
                       \(event.detailJSON)::jsonb || jsonb_build_object(
                           'had_totp', (SELECT count(*) FROM credential)::text,
                           'sessions_ended', ((SELECT count(*) FROM ended) + (SELECT count(*) FROM browsers))::text)
                FROM cutoff
            )
            SELECT id FROM cutoff
            """, logger: logger)
    }
}

extension Data {
    /// Lower-case hexadecimal, for passing byte strings as a `text[]` parameter.
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
