import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing
import _CryptoExtras

/// A client's DPoP key, making proofs (RFC 9449 §4.2) the way a client library does.
struct DPoPKey: Sendable {
    enum Kind: Sendable { case es256, eddsa }
    let kind: Kind
    let p256 = P256.Signing.PrivateKey()
    let ed25519 = Curve25519.Signing.PrivateKey()

    init(_ kind: Kind = .es256) { self.kind = kind }

    var jwk: [String: String] {
        switch kind {
        case .es256:
            let point = p256.publicKey.x963Representation
            return ["kty": "EC", "crv": "P-256", "x": Data(point[1..<33]).base64URLEncodedString(), "y": Data(point[33..<65]).base64URLEncodedString()]
        case .eddsa:
            return ["kty": "OKP", "crv": "Ed25519", "x": ed25519.publicKey.rawRepresentation.base64URLEncodedString()]
        }
    }

    /// The RFC 7638 thumbprint (what `cnf.jkt` must be).
    var thumbprint: String {
        let json = switch kind {
        case .es256: #"{"crv":"P-256","kty":"EC","x":"\#(jwk["x"]!)","y":"\#(jwk["y"]!)"}"#
        case .eddsa: #"{"crv":"Ed25519","kty":"OKP","x":"\#(jwk["x"]!)"}"#
        }
        return Data(SHA256.hash(data: Data(json.utf8))).base64URLEncodedString()
    }

    func proof(
        _ method: String = "POST", _ url: String = "http://localhost:8080/oauth2/token", accessToken: String? = nil,
        iat: Date = Date(), jti: String = UUID().uuidString, header overrides: [String: Any] = [:]
    ) throws -> String {
        var header: [String: Any] = ["typ": "dpop+jwt", "alg": kind == .es256 ? "ES256" : "EdDSA", "jwk": jwk]
        header.merge(overrides) { $1 }
        var claims: [String: Any] = ["jti": jti, "htm": method, "htu": url, "iat": Int(iat.timeIntervalSince1970)]
        if let accessToken { claims["ath"] = Data(SHA256.hash(data: Data(accessToken.utf8))).base64URLEncodedString() }
        let input = try JSONSerialization.data(withJSONObject: header, options: .sortedKeys).base64URLEncodedString() + "."
            + JSONSerialization.data(withJSONObject: claims, options: .sortedKeys).base64URLEncodedString()
        let signature = switch kind {
        case .es256: try p256.signature(for: Data(input.utf8)).rawRepresentation
        case .eddsa: try ed25519.signature(for: Data(input.utf8))
        }
        return input + "." + signature.base64URLEncodedString()
    }
}

@Suite("DPoP", .timeLimit(.minutes(2)))
struct DPoPTests {
    static func token(
        _ client: some TestClientProtocol, _ fields: [(String, String)], basic: (String, String?)?, proof: String?
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let (id, secret) = basic { headers[.authorization] = Form.basic(id, secret ?? "") }
        if let proof { headers[HTTPField.Name("DPoP")!] = proof }
        return try await client.execute(uri: "/oauth2/token", method: .post, headers: headers, body: ByteBuffer(string: Form.encode(fields)))
    }

    @Test func aProofBindsTheAccessTokenAndIsAcceptedOnce() async throws {
        try await TestServices.with { t in
            let secret = try #require(try await t.client("gw", grants: [.clientCredentials]))
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let key = DPoPKey()
                let proof = try key.proof()
                let issued = try await Self.token(client, [("grant_type", "client_credentials")], basic: ("gw", secret), proof: proof)
                #expect(issued.status == .ok, "\(issued.html)")
                #expect(issued.object["token_type"] as? String == "DPoP")
                let access = try #require(issued.object["access_token"] as? String)
                let claims = try await verifyWithJWKS(access, jwks: try await client.jwks())
                #expect(claims.cnf?.jkt == key.thumbprint)
                let introspected = try await client.execute(
                    uri: "/oauth2/introspect", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded", .authorization: Form.basic("gw", secret)],
                    body: ByteBuffer(string: Form.encode([("token", access)])))
                #expect((introspected.object["cnf"] as? [String: Any])?["jkt"] as? String == key.thumbprint)

                let replay = try await Self.token(client, [("grant_type", "client_credentials")], basic: ("gw", secret), proof: proof)
                #expect(replay.status == .badRequest && replay.object["error"] as? String == "invalid_dpop_proof")
                // Without a proof: a plain bearer token.
                let plain = try await Self.token(client, [("grant_type", "client_credentials")], basic: ("gw", secret), proof: nil)
                #expect(plain.object["token_type"] as? String == "Bearer")
            }
        }
    }

    @Test func malformedOrMisdirectedProofsAreRefused() async throws {
        try await TestServices.with { t in
            let secret = try #require(try await t.client("gw", grants: [.clientCredentials]))
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let key = DPoPKey()
                let hmacHeader = Data(#"{"alg":"HS256","typ":"dpop+jwt","jwk":{"kty":"oct","k":"AAAA"}}"#.utf8).base64URLEncodedString()
                let bad: [(String, String)] = [
                    ("GET method", try key.proof("GET")),
                    ("another URL", try key.proof("POST", "http://localhost:8080/oauth2/introspect")),
                    ("old iat", try key.proof(iat: Date().addingTimeInterval(-600))),
                    ("future iat", try key.proof(iat: Date().addingTimeInterval(600))),
                    ("typ JWT", try key.proof(header: ["typ": "JWT"])),
                    ("private key", try key.proof(header: ["jwk": key.jwk.merging(["d": "AAAA"]) { $1 }])),
                    ("another key", try key.proof(header: ["jwk": DPoPKey().jwk])),
                    ("HS256", hmacHeader + ".eyJqdGkiOiJ4In0.AAAA"),
                    ("not a JWT", "garbage"),
                ]
                for (name, proof) in bad {
                    let refused = try await Self.token(client, [("grant_type", "client_credentials")], basic: ("gw", secret), proof: proof)
                    #expect(refused.status == .badRequest, "\(name)")
                    #expect(refused.object["error"] as? String == "invalid_dpop_proof", "\(name)")
                }
                let eddsa = DPoPKey(.eddsa)
                let ok = try await Self.token(client, [("grant_type", "client_credentials")], basic: ("gw", secret), proof: try eddsa.proof())
                #expect(ok.status == .ok && ok.object["token_type"] as? String == "DPoP", "EdDSA proofs too")
            }
        }
    }

    @Test func aClientRegisteredForDPoPMustSendProofs() async throws {
        try await TestServices.with { t in
            let secret = try await t.services.clients.register(
                .init(clientID: "bound", grantTypes: [.clientCredentials], scopes: ["api"], dpopBoundAccessTokens: true),
                lifetimes: t.settings.lifetimes
            ).secret
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let refused = try await Self.token(client, [("grant_type", "client_credentials")], basic: ("bound", secret), proof: nil)
                #expect(refused.status == .badRequest && refused.object["error"] as? String == "invalid_dpop_proof")
                let ok = try await Self.token(client, [("grant_type", "client_credentials")], basic: ("bound", secret), proof: try DPoPKey().proof())
                #expect(ok.status == .ok)
            }
        }
    }

    @Test func aPublicClientsRefreshTokensAreBoundToItsKeyAndUserinfoWantsTheDPoPScheme() async throws {
        try await TestServices.with { t in
            try await t.user("alice")
            try await t.client("spa", method: .none, grants: [.password, .refreshToken])
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let key = DPoPKey()
                let login = try await Self.token(
                    client, [("grant_type", "password"), ("username", "alice"), ("password", "correct horse battery"), ("client_id", "spa")],
                    basic: nil, proof: try key.proof())
                #expect(login.status == .ok && login.object["token_type"] as? String == "DPoP", "\(login.html)")
                let refresh = try #require(login.object["refresh_token"] as? String)
                let access = try #require(login.object["access_token"] as? String)
                let fields = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "spa")]
                let unproven = try await Self.token(client, fields, basic: nil, proof: nil)
                #expect(unproven.status == .badRequest && unproven.object["error"] as? String == "invalid_grant")
                let otherKey = try await Self.token(client, fields, basic: nil, proof: try DPoPKey().proof())
                #expect(otherKey.status == .badRequest && otherKey.object["error"] as? String == "invalid_grant")
                let proven = try await Self.token(client, fields, basic: nil, proof: try key.proof())
                #expect(proven.status == .ok && proven.object["token_type"] as? String == "DPoP", "\(proven.html)")

                func userinfo(_ scheme: String, proof: String?) async throws -> HTTPResponse.Status {
                    var headers: HTTPFields = [.authorization: "\(scheme) \(access)"]
                    if let proof { headers[HTTPField.Name("DPoP")!] = proof }
                    return try await client.execute(uri: "/userinfo", method: .get, headers: headers).status
                }
                let url = "http://localhost:8080/userinfo"
                #expect(try await userinfo("Bearer", proof: nil) == .unauthorized, "a bound token is not a bearer token")
                #expect(try await userinfo("DPoP", proof: nil) == .unauthorized)
                #expect(try await userinfo("DPoP", proof: try key.proof("GET", url)) == .unauthorized, "the proof must carry ath")
                #expect(try await userinfo("DPoP", proof: try DPoPKey().proof("GET", url, accessToken: access)) == .unauthorized)
                let good = try key.proof("GET", url, accessToken: access)
                #expect(try await userinfo("DPoP", proof: good) == .ok)
                #expect(try await userinfo("DPoP", proof: good) == .unauthorized, "a proof works once")

                // A plain token is not accepted under the DPoP scheme.
                let plain = try await Self.token(
                    client, [("grant_type", "password"), ("username", "alice"), ("password", "correct horse battery"), ("client_id", "spa")],
                    basic: nil, proof: nil)
                let bearer = try #require(plain.object["access_token"] as? String)
                let asDPoP = try await client.execute(
                    uri: "/userinfo", method: .get,
                    headers: [.authorization: "DPoP \(bearer)", HTTPField.Name("DPoP")!: try key.proof("GET", url, accessToken: bearer)])
                #expect(asDPoP.status == .unauthorized)
                #expect(try await client.execute(uri: "/userinfo", method: .get, headers: [.authorization: "Bearer \(bearer)"]).status == .ok)
            }
        }
    }
}
