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

    /// A signed access token and its lifetime in seconds.
    public func issue(
        subject: String, subjectType: AccessTokenClaims.SubjectType, client: Client, scope: String, sessionID: UUID?,
        roles: [String], authTime: Date?
    ) async throws -> (token: String, expiresIn: Int) {
        let keySet = try await keys.keySet()
        let now = Int(Date().timeIntervalSince1970)
        let lifetime = accessLifetime(for: client)
        let claims = AccessTokenClaims(
            iss: issuer, sub: subject, aud: [client.audience ?? issuer], exp: now + lifetime, iat: now, nbf: now,
            jti: ClientRegistry.randomToken(bytes: 16), client_id: client.clientID, scope: scope,
            sid: sessionID?.uuidString.lowercased(), roles: roles, auth_time: authTime.map { Int($0.timeIntervalSince1970) },
            sub_type: subjectType)
        var header = JWTHeader()
        header.typ = "at+jwt"
        let token = try await keySet.collection.sign(claims, kid: JWKIdentifier(string: keySet.currentKid), header: header)
        return (token, lifetime)
    }
}
