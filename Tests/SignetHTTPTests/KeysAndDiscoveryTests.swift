import Configuration
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

@Suite("JWKS and discovery", .timeLimit(.minutes(2)))
struct KeysAndDiscoveryTests {
    @Test func jwksPublishesCurrentAndNextKeysWithPublicMembersOnly() async throws {
        try await TestServices.with { t in
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let response = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=300")
                #expect(response.headers[.contentType] == "application/json")
                let etag = try #require(response.headers[.eTag])
                #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"), "a strong ETag")
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: [[String: String]]]
                let keys = try #require(object?["keys"])
                #expect(keys.count == 2, "current and next")
                for key in keys {
                    #expect(key["kty"] == "EC" && key["crv"] == "P-256" && key["use"] == "sig" && key["alg"] == "ES256")
                    #expect(key["kid"] != nil && key["x"] != nil && key["y"] != nil)
                    #expect(key["d"] == nil)
                }
                let keySet = try await t.services.keys.keySet()
                #expect(Set(keys.compactMap { $0["kid"] }) == [keySet.currentKid, keySet.nextKid])

                let cached = try await client.execute(uri: "/.well-known/jwks.json", method: .get, headers: [.ifNoneMatch: etag])
                #expect(cached.status == .notModified)
                #expect(cached.body.readableBytes == 0)
                #expect(cached.headers[.eTag] == etag)
                let other = try await client.execute(uri: "/.well-known/jwks.json", method: .get, headers: [.ifNoneMatch: "\"other\""])
                #expect(other.status == .ok)
            }
        }
    }

    @Test func bothDiscoveryDocumentsDescribeTheContract() async throws {
        try await TestServices.with(overrides: ["issuer": "https://id.example.com"]) { t in
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let openid = try await client.execute(uri: "/.well-known/openid-configuration", method: .get)
                let oauth = try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get)
                #expect(openid.status == .ok && oauth.status == .ok)
                #expect(String(buffer: openid.body) == String(buffer: oauth.body))
                let document = try #require(try JSONSerialization.jsonObject(with: Data(buffer: openid.body)) as? [String: Any])
                #expect(document["issuer"] as? String == "https://id.example.com")
                for field in ["token_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint", "userinfo_endpoint"] {
                    #expect((document[field] as? String)?.hasPrefix("https://id.example.com/") == true, "\(field)")
                }
                #expect(document["token_endpoint"] as? String == "https://id.example.com/oauth2/token")
                #expect(document["jwks_uri"] as? String == "https://id.example.com/.well-known/jwks.json")
                let grants = try #require(document["grant_types_supported"] as? [String])
                #expect(grants.contains("password") && grants.contains("refresh_token"))
                let methods = try #require(document["token_endpoint_auth_methods_supported"] as? [String])
                #expect(Set(methods).isSuperset(of: ["client_secret_basic", "client_secret_post", "none"]))
                for field in ["response_types_supported", "scopes_supported", "id_token_signing_alg_values_supported", "subject_types_supported"] {
                    #expect(document[field] is [String], "\(field)")
                }
                // Browser sign-in (API.md "Browser sign-in").
                #expect(document["authorization_endpoint"] as? String == "https://id.example.com/oauth2/authorize")
                #expect(document["end_session_endpoint"] as? String == "https://id.example.com/oauth2/logout")
                #expect(document["response_types_supported"] as? [String] == ["code"])
                #expect(document["response_modes_supported"] as? [String] == ["query"])
                #expect(document["code_challenge_methods_supported"] as? [String] == ["S256"])
                #expect(grants.contains("authorization_code"))
                #expect((document["id_token_signing_alg_values_supported"] as? [String])?.contains("RS256") == true)
                #expect(document["subject_types_supported"] as? [String] == ["public"])
                #expect(Set(document["prompt_values_supported"] as? [String] ?? []).isSuperset(of: ["none", "login", "consent"]))
                #expect(document["authorization_response_iss_parameter_supported"] as? Bool == true)
                #expect(document["request_parameter_supported"] as? Bool == false && document["request_uri_parameter_supported"] as? Bool == false)
                #expect(Set(document["scopes_supported"] as? [String] ?? []).isSuperset(of: ["openid", "profile", "email", "offline_access"]))
            }
        }
    }

    @Test func rotationKeepsOldTokensVerifiableAndSignsWithTheNextKey() async throws {
        try await TestServices.with(overrides: ["keys.reload_interval_seconds": 1]) { t in
            try await t.user("alice")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let before = try await client.login("alice", client: "web", secret: secret)
                let oldKid = try #require(try DecodedJWT(before.access_token).header["kid"] as? String)
                let nextKid = try #require(try await t.services.keys.keySet().nextKid)

                let result = try await t.services.keys.rotate(force: true)
                guard case .rotated(let current, let next) = result else {
                    Issue.record("expected a rotation, got \(result)")
                    return
                }
                #expect(current == nextKid, "the published next key becomes current")
                // Another node (here: the test's own key ring) rotated; the server picks it up on reload.
                var jwks = try await client.jwks()
                for _ in 0..<50 where !jwks.contains(next) {
                    try await Task.sleep(for: .milliseconds(100))
                    jwks = try await client.jwks()
                }
                for kid in [oldKid, current, next] { #expect(jwks.contains(kid)) }
                _ = try await verifyWithJWKS(before.access_token, jwks: jwks)
                let after = try await client.login("alice", client: "web", secret: secret)
                #expect(try DecodedJWT(after.access_token).header["kid"] as? String == current)
                _ = try await verifyWithJWKS(after.access_token, jwks: jwks)
                let states: [String] = try await t.database.column("SELECT state FROM signing_keys ORDER BY created_at")
                #expect(states == ["retired", "current", "next"])
            }
        }
    }

    @Test func rotationRefusesANextKeyCachesMayNotHaveSeen() async throws {
        try await TestServices.with { t in
            _ = try await t.services.keys.keySet()
            let result = try await t.services.keys.rotate()
            guard case .nextTooNew = result else {
                Issue.record("expected nextTooNew, got \(result)")
                return
            }
            try await t.database.client.query(
                "UPDATE signing_keys SET created_at = now() - interval '301 seconds' WHERE state = 'next'", logger: t.database.logger)
            guard case .rotated = try await t.services.keys.rotate() else {
                Issue.record("a next key older than the JWKS max-age may be promoted")
                return
            }
        }
    }

    @Test func retiredKeysLeaveTheJWKSOnceTheirTokensHaveExpired() async throws {
        try await TestServices.with { t in
            let first = try await t.services.keys.keySet().currentKid
            _ = try await t.services.keys.rotate(force: true)
            #expect(String(decoding: try await t.services.keys.keySet().jwks, as: UTF8.self).contains(first))
            let horizon: [Double] = try await t.database.column(
                "SELECT extract(epoch FROM publish_until - retired_at)::float8 FROM signing_keys WHERE state = 'retired'")
            #expect(horizon == [Double(600 + 60 + 300)], "access lifetime + leeway + JWKS max-age")
            try await t.database.client.query(
                "UPDATE signing_keys SET publish_until = now() - interval '1 second' WHERE state = 'retired'", logger: t.database.logger)
            let keys = try await t.services.keys.reload()
            #expect(!String(decoding: keys.jwks, as: UTF8.self).contains(first))
            #expect(keys.algorithms.count == 2)
        }
    }

    @Test(arguments: SigningAlgorithm.allCases)
    func everyAlgorithmSignsTokensAGatewayCanVerify(algorithm: SigningAlgorithm) async throws {
        try await TestServices.with(overrides: ["keys.algorithm": ConfigValue(.string(algorithm.rawValue), isSecret: false)]) { t in
            try await t.user("alice")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let body = try await client.login("alice", client: "web", secret: secret)
                #expect(try DecodedJWT(body.access_token).header["alg"] as? String == algorithm.rawValue)
                let jwks = try await client.jwks()
                _ = try await verifyWithJWKS(body.access_token, jwks: jwks)
                let keys = try #require(try JSONSerialization.jsonObject(with: Data(jwks.utf8)) as? [String: [[String: String]]])["keys"]
                for key in keys ?? [] {
                    for member in ["d", "p", "q", "dp", "dq", "qi"] { #expect(key[member] == nil) }
                    #expect(key["alg"] == algorithm.rawValue)
                    if let n = key["n"] { #expect(try #require(Data(base64URLEncoded: n)).first != 0, "no leading zero octet") }
                }
            }
        }
    }
}
