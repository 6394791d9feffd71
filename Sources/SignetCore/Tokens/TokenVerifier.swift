import Foundation
import JWTKit
import Logging
import PostgresNIO

/// The one answer to "is this access token live?", shared by introspection, userinfo and the
/// admin listener so they can never disagree.
///
/// Checks, in order (RFC 8725): size; header `typ` is `at+jwt`, `kid` names a published key and
/// `alg` is that key's own algorithm, no `crit`; signature; `exp`/`nbf` with leeway; `iss`; then
/// the revocation list in one query: the `jti`, the session (`sid`), the user (deleted, disabled,
/// or cut off by `tokens_valid_after`) or, for client tokens, the client.
///
/// A user-wide cutoff is exact for tokens of a session (the session must be newer than it); a
/// token without a session only carries whole-second `iat`, so one issued in the same second as
/// the cutoff is treated as older (refused) rather than risk keeping an earlier token alive.
public struct TokenVerifier: Sendable {
    public static let maximumTokenBytes = 8 * 1024

    let keys: KeyRing
    let issuer: String
    let leeway: Int
    let database: Database
    let logger: Logger
    /// jti → live, for tokens found live; dropped on any change to the revocation state on any node.
    let live = InvalidatedCache<String, Bool>(capacity: 100_000)

    public init(keys: KeyRing, settings: Settings, database: Database) {
        self.keys = keys
        self.issuer = settings.issuerString
        self.leeway = settings.leewaySeconds
        self.database = database
        self.logger = database.logger
        database.changes.subscribe { [live] table in
            if table != .signingKeys { live.invalidate() }
        }
    }

    /// Why a token is not live; callers answer all of these alike (`active: false`, 401).
    public enum Rejection: Error, Equatable {
        case malformed
        case badHeader(String)
        case badSignature
        case expired
        case wrongIssuer
        case wrongAudience
        case revoked
    }

    /// Whom a token must be meant for.
    public enum ExpectedAudience: Sendable, Equatable {
        /// Any audience (introspection answers for every resource server; userinfo serves any
        /// token with the `openid` scope).
        case any
        /// `aud` must contain this value (the admin API's own audience).
        case exactly(String)
    }

    /// The claims of `token` if it is a live access token issued here for `audience`.
    public func verify(_ token: String, audience: ExpectedAudience) async throws -> AccessTokenClaims {
        let claims = try await authentic(token)
        if case .exactly(let expected) = audience, !claims.aud.value.contains(expected) { throw Rejection.wrongAudience }
        guard try await isLive(claims) else { throw Rejection.revoked }
        return claims
    }

    /// Checks everything but the revocation list: a token this issuer signed and that has not expired.
    public func authentic(_ token: String) async throws -> AccessTokenClaims {
        guard token.utf8.count <= Self.maximumTokenBytes else { throw Rejection.malformed }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Data(base64URLEncoded: String(parts[0])),
              let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any]
        else { throw Rejection.malformed }
        guard header["typ"] as? String == "at+jwt" else { throw Rejection.badHeader("typ") }
        guard header["crit"] == nil else { throw Rejection.badHeader("crit") }
        let keySet = try await keys.keySet()
        guard let kid = header["kid"] as? String, let algorithm = keySet.algorithms[kid] else {
            throw Rejection.badHeader("kid")
        }
        guard header["alg"] as? String == algorithm.rawValue else { throw Rejection.badHeader("alg") }
        let claims: AccessTokenClaims
        do {
            claims = try await keySet.collection.verify(token, as: AccessTokenClaims.self)
        } catch {
            throw Rejection.badSignature
        }
        guard claims.isCurrent(leeway: leeway) else { throw Rejection.expired }
        guard claims.iss == issuer else { throw Rejection.wrongIssuer }
        return claims
    }

    /// Whether nothing on the revocation list covers `claims`; remembered until the next change.
    public func isLive(_ claims: AccessTokenClaims) async throws -> Bool {
        if live[claims.jti] == true { return true }
        let generation = live.generation
        let answer = try await checkLive(claims)
        if answer { live.store(true, for: claims.jti, ifStill: generation) }
        return answer
    }

    private func checkLive(_ claims: AccessTokenClaims) async throws -> Bool {
        let sessionID = claims.sid.flatMap(UUID.init(uuidString:))
        if claims.sid != nil && sessionID == nil { return false }
        let userID = claims.userID
        if claims.isUserToken && userID == nil { return false }
        if !claims.isUserToken && sessionID != nil { return false }
        let rows = try await database.execute(
            LivenessStatement(jti: claims.jti, clientID: claims.client_id, sessionID: sessionID, userID: userID, issuedAt: claims.iat),
            logger: logger)
        for try await live in rows { return live }
        return false
    }

    /// The claims of an ID token this issuer signed, presented back as `id_token_hint`
    /// (authorization, logout). Expired tokens are accepted on purpose (OIDC Core §3.1.2.1,
    /// RP-Initiated Logout §2); `alg: none`, a foreign key or another issuer are not.
    public func idTokenHint(_ token: String) async -> IDTokenClaims? {
        guard token.utf8.count <= Self.maximumTokenBytes else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Data(base64URLEncoded: String(parts[0])),
              let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
              header["typ"] as? String == "JWT", header["crit"] == nil,
              let keySet = try? await keys.keySet(),
              let kid = header["kid"] as? String, let algorithm = keySet.algorithms[kid],
              header["alg"] as? String == algorithm.rawValue,
              let claims = try? await keySet.collection.verify(token, as: IDTokenClaims.self),
              claims.iss == issuer
        else { return nil }
        return claims
    }
}
