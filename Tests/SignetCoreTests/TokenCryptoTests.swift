import Crypto
import Foundation
import JWTKit
import SignetCore
import SignetTestSupport
import Testing

@Suite("Refresh token format", .timeLimit(.minutes(2)))
struct RefreshTokenTests {
    let key = MasterKey.random()

    @Test func roundTripsAndCarriesNoReadableSecret() throws {
        let token = RefreshToken(sessionID: UUID(), counter: 41)
        let text = token.encoded(with: key)
        #expect(RefreshToken(verifying: text, with: key) == token)
        #expect(Data(base64URLEncoded: text)?.count == 41, "version, session id, counter and a 128-bit tag")
        #expect(text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    @Test func everyFlippedBitIsRefused() throws {
        let text = RefreshToken(sessionID: UUID(), counter: 7).encoded(with: key)
        let bytes = try #require(Data(base64URLEncoded: text))
        for index in bytes.indices {
            for bit in 0..<8 {
                var altered = bytes
                altered[index] ^= UInt8(1 << bit)
                #expect(RefreshToken(verifying: altered.base64URLEncodedString(), with: key) == nil, "byte \(index) bit \(bit)")
            }
        }
    }

    @Test func raisedCounterOrAnotherSessionIsRefused() throws {
        let session = UUID(), other = UUID()
        var bytes = try #require(Data(base64URLEncoded: RefreshToken(sessionID: session, counter: 3).encoded(with: key)))
        bytes[24] = 4
        #expect(RefreshToken(verifying: bytes.base64URLEncodedString(), with: key) == nil)
        var swapped = try #require(Data(base64URLEncoded: RefreshToken(sessionID: session, counter: 3).encoded(with: key)))
        withUnsafeBytes(of: other.uuid) { swapped.replaceSubrange(1..<17, with: $0) }
        #expect(RefreshToken(verifying: swapped.base64URLEncodedString(), with: key) == nil)
    }

    @Test func anotherMasterKeyCannotMintOrVerify() {
        let token = RefreshToken(sessionID: UUID(), counter: 0)
        #expect(RefreshToken(verifying: token.encoded(with: .random()), with: key) == nil)
        #expect(RefreshToken(verifying: token.encoded(with: key), with: .random()) == nil)
    }

    @Test(arguments: ["", "a", "AQ", String(repeating: "A", count: 55), String(repeating: "A", count: 500), "AfT+kxa/WI08", "é"])
    func malformedTextIsRefused(text: String) {
        #expect(RefreshToken(verifying: text, with: key) == nil)
    }
}

@Suite("Master key and sealed signing keys", .timeLimit(.minutes(2)))
struct SealedKeyTests {
    @Test func masterKeyMustBe32Base64Bytes() throws {
        #expect(throws: MasterKeyError.notBase64) { try MasterKey(base64: "not base64!") }
        #expect(throws: MasterKeyError.wrongLength(16)) { try MasterKey(base64: Data(count: 16).base64EncodedString()) }
        _ = try MasterKey(base64: Data(count: 32).base64EncodedString() + "\n")
    }

    @Test func sealedKeyIsUnreadableWithoutTheMasterKey() throws {
        let box = SecretBox(masterKey: .random())
        let key = try SigningKeyMaterial.generate(.es256)
        let sealed = try key.sealed(with: box)
        let reopened = try SigningKeyMaterial.unseal(sealed, kid: key.kid, algorithm: .es256, with: box)
        #expect(reopened.publicJWK == key.publicJWK)
        #expect(throws: (any Error).self) {
            try SigningKeyMaterial.unseal(sealed, kid: key.kid, algorithm: .es256, with: SecretBox(masterKey: .random()))
        }
        #expect(throws: (any Error).self, "a sealed key cannot be moved to another row") {
            try SigningKeyMaterial.unseal(sealed, kid: "another-kid", algorithm: .es256, with: box)
        }
        #expect(!"\(key)".contains(key.publicJWK.x ?? "-"), "the description shows no key material")
    }

    @Test func storedKeysHoldNoClearPrivateKey() async throws {
        try await TestServices.with { t in
            _ = try await t.services.keys.keySet()
            let rows: [String] = try await t.database.column("SELECT encode(private_key_sealed, 'hex') FROM signing_keys")
            #expect(rows.count == 2)
            let jwks: [String] = try await t.database.column("SELECT public_jwk::text FROM signing_keys")
            for jwk in jwks { #expect(!jwk.contains("\"d\"")) }
            let unreadable = KeyRing(
                store: KeyStore(database: t.database), audit: AuditLog(database: t.database), masterKey: .random(), settings: t.settings, logger: TestDatabase.logger)
            await #expect(throws: (any Error).self, "another master key cannot load the key set") {
                try await unreadable.reload()
            }
        }
    }

    @Test func kidIsTheRFC7638Thumbprint() throws {
        // RFC 7638 §3.1 example key.
        let jwk = try JSONDecoder().decode(PublicJWK.self, from: Data(#"""
            {"kty":"RSA","alg":"RS256","use":"sig","kid":"",
             "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
             "e":"AQAB"}
            """#.utf8))
        #expect(jwk.thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }
}

@Suite("Key ring", .timeLimit(.minutes(2)))
struct KeyRingTests {
    @Test func idTokenAlgorithmsAreThoseOfCodeFlowClientsOnly() async throws {
        try await TestServices.with { t in
            let store = KeyStore(database: t.database)
            try await t.database.client.query("DELETE FROM clients", logger: t.database.logger)
            #expect(try await store.idTokenAlgorithms() == [])
            for (id, alg, grants) in [("a", "ES256", "{authorization_code}"), ("b", "ES256", "{authorization_code,refresh_token}"),
                                      ("c", "RS256", "{client_credentials}"), ("d", "ES256", "{password}")] {
                try await t.database.client.query(
                    """
                    INSERT INTO clients (client_id, token_endpoint_auth_method, require_pkce, grant_types, redirect_uris, id_token_signed_response_alg)
                    VALUES (\(id), 'none', true, \(grants)::text[], '{https://app.example/cb}', \(alg))
                    """,
                    logger: t.database.logger)
            }
            #expect(try await store.idTokenAlgorithms() == [.es256], "a service's or password client's algorithm signs no ID token")
            try await t.database.client.query(
                "UPDATE clients SET grant_types = '{authorization_code}' WHERE client_id = 'c'", logger: t.database.logger)
            #expect(try await store.idTokenAlgorithms() == [.rs256, .es256])
        }
    }

    @Test func concurrentNodesBootstrapOneCurrentAndOneNextKey() async throws {
        try await TestServices.with { t in
            let rings = (0..<4).map { _ in
                KeyRing(store: KeyStore(database: t.database), audit: AuditLog(database: t.database), masterKey: t.services.masterKey, settings: t.settings, logger: TestDatabase.logger)
            }
            let sets = try await withThrowingTaskGroup(of: KeySet.self) { group in
                for ring in rings { group.addTask { try await ring.reload() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(sets.map(\.currentKid)).count == 1)
            let states: [String] = try await t.database.column("SELECT state FROM signing_keys ORDER BY state")
            #expect(states == ["current", "next"])
        }
    }

    @Test func dueRotationHappensOnceAcrossNodes() async throws {
        try await TestServices.with { t in
            let first = try await t.services.keys.keySet()
            try await t.database.client.query(
                """
                UPDATE signing_keys SET activated_at = now() - interval '31 days', created_at = now() - interval '31 days'
                WHERE state = 'current'
                """, logger: t.database.logger)
            try await t.database.client.query(
                "UPDATE signing_keys SET created_at = now() - interval '31 days' WHERE state = 'next'", logger: t.database.logger)
            let rings = (0..<3).map { _ in
                KeyRing(store: KeyStore(database: t.database), audit: AuditLog(database: t.database), masterKey: t.services.masterKey, settings: t.settings, logger: TestDatabase.logger)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for ring in rings { group.addTask { try await ring.maintain() } }
                try await group.waitForAll()
            }
            let states: [String] = try await t.database.column("SELECT state FROM signing_keys ORDER BY created_at")
            #expect(states == ["retired", "current", "next"], "exactly one rotation")
            let current: [String] = try await t.database.column("SELECT kid FROM signing_keys WHERE state = 'current'")
            #expect(current == [first.nextKid])
        }
    }

    @Test func unknownKidNeverFallsBackToAnotherKey() async throws {
        try await TestServices.with { t in
            let keySet = try await t.services.keys.keySet()
            let stranger = try SigningKeyMaterial.generate(.es256)
            let strangerKeys = JWTKeyCollection()
            await strangerKeys.add(ecdsa: ES256PrivateKey(), kid: JWKIdentifier(string: stranger.kid))
            let now = Int(Date().timeIntervalSince1970)
            let claims = AccessTokenClaims(
                iss: "x", sub: "y", aud: ["z"], exp: now + 60, iat: now, nbf: now, jti: "j", client_id: "c", scope: "",
                sid: nil, roles: [], auth_time: nil, sub_type: .client)
            let forged = try await strangerKeys.sign(claims, kid: JWKIdentifier(string: stranger.kid))
            await #expect(throws: (any Error).self) { try await keySet.collection.verify(forged, as: AccessTokenClaims.self) }
            let genuine = try await keySet.collection.sign(claims, kid: JWKIdentifier(string: keySet.currentKid))
            _ = try await keySet.collection.verify(genuine, as: AccessTokenClaims.self)
        }
    }
}

@Suite("base64url", .timeLimit(.minutes(1)))
struct Base64URLTests {
    @Test func decodesWhatItEncodesAtEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = Data((0..<length).map { _ in generator.next() as UInt8 })
            let text = bytes.base64URLEncodedString()
            #expect(Data(base64URLEncoded: text) == bytes, "length \(length)")
            let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
            #expect(Data(base64Encoded: standard) == bytes, "agrees with Foundation's decoder at length \(length)")
        }
    }

    @Test(arguments: ["A", "AAAAA", "AB", "AAB", "+/8", "AA==", "AA=", "AA A", "é", "AA\u{0}A", "AAA\n"])
    func refusesOtherAlphabetsLengthsAndNonCanonicalText(text: String) {
        #expect(Data(base64URLEncoded: text) == nil)
    }

    @Test func acceptsTheCanonicalShortForms() {
        #expect(Data(base64URLEncoded: "") == Data())
        #expect(Data(base64URLEncoded: "AA") == Data([0]))
        #expect(Data(base64URLEncoded: "AAE") == Data([0, 1]))
        #expect(Data(base64URLEncoded: "-_8") == Data([0xFB, 0xFF]))
    }
}
