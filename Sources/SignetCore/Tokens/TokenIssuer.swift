import Foundation
import JWTKit
import Logging

/// Signs access tokens (RFC 9068) with the current key of the ``KeyRing``.
public struct TokenIssuer: Sendable {
    let keys: KeyRing
    let issuer: String
    let lifetimes: Settings.Lifetimes

    public init(keys: KeyRing, settings: Settings) {
        self.keys = keys
        self.issuer = settings.issuerString
        self.lifetimes = settings.lifetimes
    }

    /// The access-token lifetime for `client` (its override may only shorten the configured one).
    func accessLifetime(for client: Client) -> Int {
        min(client.accessTokenLifetime ?? lifetimes.accessTokenSeconds, lifetimes.accessTokenSeconds)
    }

    /// A fresh `jti`: 128 random bits.
    public static func newJTI() -> String {
        ClientRegistry.randomToken(bytes: 16)
    }

    /// A signed access token and its lifetime in seconds — encrypted to the client's key when it
    /// registered `access_token_encrypted_response_alg` (a nested JWT: signed, then encrypted).
    /// `jti` and `issuedAt` may be fixed by the caller (the code exchange records both before signing).
    public func issue(
        subject: String, subjectType: AccessTokenClaims.SubjectType, client: Client, scope: String, sessionID: UUID?,
        roles: [String], authTime: Date?, amr: [String]? = nil, acr: String? = nil, dpopJKT: String? = nil,
        jti: String = TokenIssuer.newJTI(), issuedAt: Date = Date()
    ) async throws -> (token: String, expiresIn: Int) {
        let keySet = try await keys.keySet()
        let now = Int(issuedAt.timeIntervalSince1970)
        let lifetime = accessLifetime(for: client)
        let claims = AccessTokenClaims(
            iss: issuer, sub: subject, aud: [client.audience ?? issuer], exp: now + lifetime, iat: now, nbf: now,
            jti: jti, client_id: client.clientID, scope: scope,
            sid: sessionID?.uuidString.lowercased(), roles: roles, auth_time: authTime.map { Int($0.timeIntervalSince1970) },
            sub_type: subjectType, amr: amr, acr: acr, cnf: dpopJKT.map(AccessTokenClaims.Confirmation.init(jkt:)))
        var header = JWTHeader()
        header.typ = "at+jwt"
        let token = try await keySet.collection.sign(claims, kid: JWKIdentifier(string: keySet.currentKid), header: header)
        return (try client.accessTokenEncryption?.encrypt(token, jwks: client.jwks) ?? token, lifetime)
    }

    /// A signed ID token for `client` (its registered algorithm, RS256 by default), living as long
    /// as the access token it comes with, and encrypted to the client's key when it registered
    /// `id_token_encrypted_response_alg`. Email and username only with their scopes.
    public func idToken(
        user: User, client: Client, scopes: Set<String>, nonce: String?, accessToken: String, sessionID: UUID,
        authTime: Date, amr: [String], acr: String, issuedAt: Date = Date()
    ) async throws -> String {
        var keySet = try await keys.keySet()
        if keySet.currentKids[client.idTokenAlgorithm] == nil {
            // The client's keys are made when it is registered; a node that has not reloaded since does now.
            keySet = try await keys.reload()
        }
        guard let kid = keySet.currentKids[client.idTokenAlgorithm] else { throw KeyRingError.noCurrentKey }
        let now = Int(issuedAt.timeIntervalSince1970)
        let email = scopes.contains("email") ? user.email : nil
        let claims = IDTokenClaims(
            iss: issuer, sub: user.id.uuidString.lowercased(), aud: client.clientID, exp: now + accessLifetime(for: client),
            iat: now, auth_time: Int(authTime.timeIntervalSince1970), nonce: nonce,
            at_hash: IDTokenClaims.accessTokenHash(accessToken), sid: sessionID.uuidString.lowercased(), amr: amr, acr: acr,
            azp: client.clientID, email: email, email_verified: email == nil ? nil : false,
            preferred_username: scopes.contains("profile") ? user.username : nil)
        var header = JWTHeader()
        header.typ = "JWT"
        let token = try await keySet.collection.sign(claims, kid: JWKIdentifier(string: kid), header: header)
        return try client.idTokenEncryption?.encrypt(token, jwks: client.jwks) ?? token
    }
}
