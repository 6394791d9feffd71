import Foundation
import Logging
import PostgresNIO

/// The `authorization_codes` table. A code is issued against a live browser session and
/// consumed by exactly one conditional statement, like a refresh-token rotation; a second
/// exchange revokes what the first one issued (RFC 6749 §4.1.2, §10.5).
public struct AuthorizationCodeStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database) {
        self.database = database
        logger = database.logger
    }

    /// What an authorization request asked for, bound to the code it produces.
    public struct Binding: Sendable, Equatable {
        public var clientID: String
        public var redirectURI: String
        /// The PKCE S256 challenge, if the request had one.
        public var codeChallenge: String?
        public var nonce: String?
        public var scope: String

        public init(clientID: String, redirectURI: String, codeChallenge: String?, nonce: String?, scope: String) {
            self.clientID = clientID
            self.redirectURI = redirectURI
            self.codeChallenge = codeChallenge
            self.nonce = nonce
            self.scope = scope
        }
    }

    /// The browser session a code is issued under.
    public enum Signer: Sendable {
        /// A session already looked up (and found to need no page).
        case session(UUID)
        /// The session behind this cookie secret, if it is live and — unless `consentTo` is nil —
        /// its user has consented to those scopes for the client: single sign-on in one statement.
        /// A session of one factor qualifies only if its user holds none of `secondFactorFor`
        /// (roles that require two); nil means two factors are required whoever the user is.
        case cookie(SecretToken, consentTo: [String]?, secondFactorFor: [String]?)
    }

    /// Stores `code` for `binding` under the browser session `signer` names if that session is
    /// still live, notes its use (at most every 30 s, so that one busy session is not rewritten
    /// on every request) and audits `code_issued`; one statement. Whether it did.
    public func issue(
        _ code: SecretToken, binding: Binding, signer: Signer, idleSeconds: Int, lifetime: Int, remoteAddress: String?
    ) async throws -> Bool {
        var sessionID: UUID?, secretHash: Data?, consentTo: [String]?
        var anyoneNeedsTwo = false, rolesNeedingTwo: [String] = []
        switch signer {
        case .session(let id): sessionID = id
        case .cookie(let secret, let scopes, let roles):
            (secretHash, consentTo) = (secret.hash, scopes)
            if let roles { rolesNeedingTwo = roles } else { anyoneNeedsTwo = true }
        }
        let rows = try await database.execute(
            CodeIssueStatement(
                sessionID: sessionID, secretHash: secretHash, idleSeconds: idleSeconds, consentTo: consentTo,
                anyoneNeedsTwo: anyoneNeedsTwo, rolesNeedingTwo: rolesNeedingTwo, codeHash: code.hash, binding: binding,
                lifetime: lifetime, remoteAddress: remoteAddress),
            logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// What a consumed code stands for.
    public struct Grant: Sendable, Equatable {
        public var user: User
        public var browserSessionID: UUID
        public var scope: String
        public var nonce: String?
        public var authTime: Date
        public var amr: [String]
        public var acr: String
    }

    /// The outcome of presenting a code.
    public enum Exchange: Sendable, Equatable {
        case exchanged(Grant)
        /// The code had been exchanged before: what that exchange issued is now revoked.
        case reused
        /// Unknown, expired, issued to another client or redirect URI, failed PKCE, or its
        /// browser session or user has ended since.
        case invalid(String)
    }

    /// What the exchange will issue, remembered on the code so that a reuse can revoke it.
    public struct Issued: Sendable {
        /// The refresh family to create (its id), or nil when the client gets no refresh token.
        public var familyID: UUID?
        public var familyLifetime: Int
        public var accessTokenJTI: String
        public var accessTokenExpiresAt: Date
        /// The DPoP key the family's refresh tokens are bound to (a public client that sent a proof).
        public var dpopJKT: String?

        public init(familyID: UUID?, familyLifetime: Int, accessTokenJTI: String, accessTokenExpiresAt: Date, dpopJKT: String? = nil) {
            self.dpopJKT = dpopJKT
            self.familyID = familyID
            self.familyLifetime = familyLifetime
            self.accessTokenJTI = accessTokenJTI
            self.accessTokenExpiresAt = accessTokenExpiresAt
        }
    }

    /// Consumes `code` in one statement: only if it is unused, unexpired, issued to `clientID` for
    /// `redirectURI`, its PKCE challenge equals `verifierChallenge` (both absent, or equal: a
    /// verifier for a code issued without a challenge fails, RFC 9700 §2.1.1), and its browser
    /// session and user are still live. The same statement creates the refresh family of `issued`
    /// (tied to the browser session, under the user's generation). Otherwise says why, and a code
    /// already used has what its exchange issued revoked (audited as `code_reused`).
    public func exchange(
        _ code: SecretToken, clientID: String, redirectURI: String?, verifierChallenge: String?, issued: Issued,
        origin: RequestOrigin
    ) async throws -> Exchange {
        let rows = try await database.execute(
            CodeExchangeStatement(
                codeHash: code.hash, clientID: clientID, redirectURI: redirectURI, verifierChallenge: verifierChallenge, issued: issued),
            logger: logger)
        for try await grant in rows {
            return .exchanged(grant)
        }
        return try await diagnose(code, clientID: clientID, redirectURI: redirectURI, verifierChallenge: verifierChallenge, origin: origin)
    }

    private func diagnose(
        _ code: SecretToken, clientID: String, redirectURI: String?, verifierChallenge: String?, origin: RequestOrigin
    ) async throws -> Exchange {
        let rows = try await database.query(
            """
            SELECT c.used_at IS NOT NULL, c.expires_at > now(), c.client_id, c.redirect_uri, c.code_challenge, c.user_id
            FROM authorization_codes c WHERE c.code_hash = \(code.hash)
            """, logger: logger)
        for try await (used, unexpired, owner, redirect, challenge, userID) in rows.decode((Bool, Bool, String, String, String?, UUID).self) {
            if used {
                try await revokeWhatWasIssued(code, userID: userID, clientID: owner, origin: origin)
                return .reused
            }
            if !unexpired { return .invalid("authorization code has expired") }
            if owner != clientID { return .invalid("authorization code was issued to another client") }
            if redirectURI == nil { return .invalid("redirect_uri is required and must equal the authorization request's") }
            if redirect != redirectURI { return .invalid("redirect_uri does not match the authorization request") }
            if challenge == nil && verifierChallenge != nil {
                return .invalid("code_verifier was sent but the authorization request had no code_challenge")
            }
            if challenge != nil && verifierChallenge == nil { return .invalid("code_verifier is required") }
            if challenge != verifierChallenge { return .invalid("code_verifier does not match the code_challenge") }
            return .invalid("the sign-in behind this authorization code has ended")
        }
        return .invalid("authorization code is not valid")
    }

    /// A second exchange: ends the refresh family the first one created and lists its access
    /// token as revoked, auditing `code_reused`; one statement.
    private func revokeWhatWasIssued(_ code: SecretToken, userID: UUID, clientID: String, origin: RequestOrigin) async throws {
        _ = try await database.changed(
            .sessions,
            by:
            """
            WITH code AS (
                SELECT session_id, access_token_jti, access_token_expires_at FROM authorization_codes WHERE code_hash = \(code.hash)
            ), family AS (
                UPDATE sessions SET revoked_at = now(), revoked_reason = 'code_reused'
                WHERE id IN (SELECT session_id FROM code) AND revoked_at IS NULL
                RETURNING id
            ), token AS (
                INSERT INTO revoked_tokens (jti, expires_at, session_id, reason)
                SELECT access_token_jti, access_token_expires_at, session_id, 'code_reused' FROM code
                WHERE access_token_jti IS NOT NULL AND access_token_expires_at > now()
                ON CONFLICT (jti) DO NOTHING
                RETURNING jti
            ), audit AS (
                \(unescaped: AuditLog.insert)
                SELECT 'code_reused', \(userID), \(clientID), session_id, \(origin.remoteAddress),
                       jsonb_build_object('refresh_family_revoked', (SELECT count(*) FROM family)::text,
                                          'access_token_revoked', (SELECT count(*) FROM token)::text)
                FROM code
            )
            SELECT 1 FROM code
            """, logger: logger)
    }
}
