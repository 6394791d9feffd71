import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing
import _CryptoExtras

/// Encrypted tokens (JWE) per client: registration checks, nested JWTs a recipient decrypts and
/// then verifies against the JWKS, and what Signet itself does with a token it cannot read.
@Suite("Token encryption", .timeLimit(.minutes(2)))
struct TokenEncryptionTests {
    /// A P-256 key pair for `ECDH-ES+A256KW`: the private key and its public JWK Set (JSON text).
    static func ecRecipient(kid: String = "rs-ec") -> (P256.KeyAgreement.PrivateKey, String) {
        let key = P256.KeyAgreement.PrivateKey()
        let point = key.publicKey.x963Representation
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","use":"enc","kid":"\#(kid)","x":"\#(Data(point[1..<33]).base64URLEncodedString())","y":"\#(Data(point[33..<65]).base64URLEncodedString())"}]}"#
        return (key, jwks)
    }

    @Test func anEncryptedAccessTokenIsANestedJWTOnlyItsRecipientCanRead() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            let (recipient, jwks) = Self.ecRecipient()
            let secret: String = try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let created = try await client.admin(
                    .post, "/admin/clients", token: admin,
                    json: #"{"client_id":"gw","grant_types":["client_credentials"],"scope":"api","jwks":\#(jwks),"access_token_encrypted_response_alg":"ECDH-ES+A256KW"}"#)
                #expect(created.status == .created, "\(created.html)")
                #expect(created.object["access_token_encrypted_response_alg"] as? String == "ECDH-ES+A256KW")
                #expect(created.object["access_token_encrypted_response_enc"] as? String == "A256GCM", "A256GCM unless said otherwise")
                #expect(((created.object["jwks"] as? [String: Any])?["keys"] as? [[String: Any]])?.first?["kid"] as? String == "rs-ec")
                return try #require(created.object["client_secret"] as? String)
            }
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let issued = try await client.token([("grant_type", "client_credentials")], basic: ("gw", secret))
                #expect(issued.status == .ok)
                let token = try #require(issued.object["access_token"] as? String)
                #expect(token.split(separator: ".", omittingEmptySubsequences: false).count == 5, "a JWE, not a JWS")
                let (header, inner) = try JWE.decrypt(token, with: .p256(recipient))
                #expect(header["cty"] as? String == "JWT" && header["kid"] as? String == "rs-ec" && header["enc"] as? String == "A256GCM")
                let claims = try await verifyWithJWKS(String(decoding: inner, as: UTF8.self), jwks: try await client.jwks())
                #expect(claims.client_id == "gw" && claims.scope == "api")
                #expect(try DecodedJWT(String(decoding: inner, as: UTF8.self)).header["typ"] as? String == "at+jwt")
                // Signet cannot read it: introspection says inactive, as for any token it cannot verify.
                let introspected = try await client.execute(
                    uri: "/oauth2/introspect", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded", .authorization: Form.basic("gw", secret)],
                    body: ByteBuffer(string: Form.encode([("token", token)])))
                #expect(introspected.object["active"] as? Bool == false)
                #expect(throws: (any Error).self) { try JWE.decrypt(token, with: .p256(P256.KeyAgreement.PrivateKey())) }
            }
        }
    }

    @Test func anEncryptedIDTokenComesFromTheCodeExchange() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            let generated = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
            let recipientDER = generated.derRepresentation
            let (n, e) = try #require(rsaModulusAndExponent(der: Array(generated.publicKey.pkcs1DERRepresentation)))
            let jwks = #"{"keys":[{"kty":"RSA","kid":"rp-rsa","n":"\#(Data(n).base64URLEncodedString())","e":"\#(Data(e).base64URLEncodedString())"}]}"#
            let secret = try await t.services.clients.register(
                .init(clientID: "web", grantTypes: [.authorizationCode], scopes: ["openid", "profile"],
                      redirectURIs: [BrowserSignInTests.callback], skipConsent: true, jwks: jwks, idTokenEncryptedResponseAlg: "RSA-OAEP-256"),
                lifetimes: t.settings.lifetimes
            ).secret
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let pkce = PKCEPair()
                let back = try await BrowserSignInTests.signIn(TestBrowser(client), authorizationRequest("web", pkce: pkce, scope: "openid profile"))
                let code = try #require(back.redirectQuery["code"])
                let tokens = try await BrowserSignInTests.exchange(client, code: code, pkce: pkce, secret: secret)
                let idToken = try #require(tokens.object["id_token"] as? String)
                let recipient = try _RSA.Encryption.PrivateKey(derRepresentation: recipientDER)
                let (header, inner) = try JWE.decrypt(idToken, with: .rsa(recipient))
                #expect(header["alg"] as? String == "RSA-OAEP-256" && header["cty"] as? String == "JWT" && header["kid"] as? String == "rp-rsa")
                let keys = try await JWTKeyCollection().add(jwksJSON: try await client.jwks())
                let claims = try await keys.verify(String(decoding: inner, as: UTF8.self), as: IDTokenClaims.self)
                #expect(claims.aud == "web" && claims.preferred_username == "alice")
                // The access token is not encrypted (only ID tokens were asked for), and at_hash matches it.
                let access = try #require(tokens.object["access_token"] as? String)
                #expect(access.split(separator: ".").count == 3 && claims.at_hash == IDTokenClaims.accessTokenHash(access))
            }
        }
    }

    @Test(arguments: [
        (#""access_token_encrypted_response_alg":"RSA1_5""#, "access_token_encrypted_response_alg"),
        (#""access_token_encrypted_response_alg":"ECDH-ES+A256KW","access_token_encrypted_response_enc":"A128CBC-HS256""#, "A256GCM"),
        (#""id_token_encrypted_response_enc":"A256GCM""#, "needs id_token_encrypted_response_alg"),
        (#""id_token_encrypted_response_alg":"ECDH-ES+A256KW""#, "needs the client's jwks"),
        (#""id_token_encrypted_response_alg":"RSA-OAEP-256","jwks":EC"#, "no public key with use enc for RSA-OAEP-256"),
        (#""id_token_encrypted_response_alg":"ECDH-ES+A256KW","jwks":SIG"#, "no public key with use enc"),
        (#""jwks":PRIVATE"#, "public keys only"),
        (#""jwks":{"keys":[]}"#, "JWK Set"),
        (#""jwks":[1,2]"#, "JWK Set"),
    ])
    func registrationRefusesEncryptionItCannotHonour(members: String, reason: String) async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            let (_, ec) = Self.ecRecipient()
            let sig = ec.replacingOccurrences(of: #""use":"enc""#, with: #""use":"sig""#)
            let priv = ec.replacingOccurrences(of: #""use":"enc""#, with: #""use":"enc","d":"AAAA""#)
            let body = #"{"grant_types":["client_credentials"],\#(members)}"#
                .replacingOccurrences(of: "PRIVATE", with: priv).replacingOccurrences(of: "SIG", with: sig).replacingOccurrences(of: ":EC", with: ":" + ec)
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let refused = try await client.admin(.post, "/admin/clients", token: admin, json: body)
                #expect(refused.status == .badRequest)
                #expect(refused.object["error"] as? String == "invalid_client_metadata")
                #expect((refused.object["error_description"] as? String)?.contains(reason) == true, "\(refused.object)")
            }
        }
    }
}
