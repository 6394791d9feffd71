import Crypto
import Foundation
import SignetCore
import SignetTestSupport
import Testing
import _CryptoExtras

/// JWE's primitives against the RFCs' vectors, and whole tokens round-tripped and tampered with.
@Suite("JWE", .timeLimit(.minutes(1)))
struct JWETests {
    static func bytes(_ base64url: String) -> Data {
        var text = base64url.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: text)!
    }

    /// RFC 7518 Appendix C: Alice's ephemeral key, Bob's key, and the A128GCM key they agree on.
    @Test func concatKDFMatchesRFC7518AppendixC() throws {
        let alice = try P256.KeyAgreement.PrivateKey(rawRepresentation: Self.bytes("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo"))
        let bob = try P256.KeyAgreement.PublicKey(
            x963Representation: [0x04] + Self.bytes("weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ")
                + Self.bytes("e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"))
        let z = try alice.sharedSecretFromKeyAgreement(with: bob).withUnsafeBytes { Array($0) }
        #expect(Data(z).map { String(format: "%02x", $0) }.joined() == "9e56d91d817135d372834283bf84269cfb316ea3da806a48f6daa7798cfe90c4")
        let key = ConcatKDF.deriveKey(
            sharedSecret: z, keyBits: 128, algorithmID: "A128GCM", partyUInfo: Array("Alice".utf8), partyVInfo: Array("Bob".utf8))
        #expect(Data(key).base64URLEncodedString() == "VqqN6vgjbSBcIijNcacQGg")
        #expect(ConcatKDF.deriveKey(sharedSecret: z, keyBits: 512, algorithmID: "x").count == 64, "more than one round")
    }

    /// RFC 3394 §4.6: 256 bits of key data wrapped with a 256-bit key.
    @Test func aesKeyWrapMatchesRFC3394() throws {
        let kek = SymmetricKey(data: Data(0..<32))
        let data = SymmetricKey(data: Data([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF] + Array(0..<16)))
        let wrapped = try AES.KeyWrap.wrap(data, using: kek)
        #expect(wrapped.map { String(format: "%02X", $0) }.joined()
            == "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
    }

    @Test func ecdhESA256KWRoundTripsAndDetectsTampering() throws {
        let recipient = P256.KeyAgreement.PrivateKey()
        let point = recipient.publicKey.x963Representation
        let jwk: [String: Any] = [
            "kty": "EC", "crv": "P-256", "use": "enc", "kid": "rs-1",
            "x": Data(point[1..<33]).base64URLEncodedString(), "y": Data(point[33..<65]).base64URLEncodedString(),
        ]
        let key = try EncryptionKey.select(from: ["keys": [jwk]], for: .ecdhESA256KW)
        let token = try JWE.encrypt(Array("eyJ.a.b".utf8), to: key, algorithm: .ecdhESA256KW, contentType: "JWT")
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 5 && parts[2].count == 16, "a 96-bit IV")
        let (header, plaintext) = try JWE.decrypt(token, with: .p256(recipient))
        #expect(plaintext == Array("eyJ.a.b".utf8))
        #expect(header["alg"] as? String == "ECDH-ES+A256KW" && header["enc"] as? String == "A256GCM")
        #expect(header["cty"] as? String == "JWT" && header["kid"] as? String == "rs-1" && header["epk"] != nil)
        #expect(try JWE.encrypt([1], to: key, algorithm: .ecdhESA256KW) != JWE.encrypt([1], to: key, algorithm: .ecdhESA256KW),
                "a fresh ephemeral key, key and IV each time")

        var flipped = Array(parts.map(String.init))
        var ciphertext = Array(flipped[3].utf8)
        ciphertext[0] = ciphertext[0] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        flipped[3] = String(decoding: ciphertext, as: UTF8.self)
        #expect(throws: (any Error).self) { try JWE.decrypt(flipped.joined(separator: "."), with: .p256(recipient)) }
        #expect(throws: (any Error).self) { try JWE.decrypt(token, with: .p256(P256.KeyAgreement.PrivateKey())) }
        // The protected header is authenticated: another header fails.
        var reheaded = Array(parts.map(String.init))
        reheaded[0] = Data(#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM"}"#.utf8).base64URLEncodedString()
        #expect(throws: (any Error).self) { try JWE.decrypt(reheaded.joined(separator: "."), with: .p256(recipient)) }
    }

    @Test func rsaOAEP256RoundTrips() throws {
        let recipient = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        let der = recipient.publicKey.pkcs1DERRepresentation
        // PKCS#1 RSAPublicKey: SEQUENCE { INTEGER n, INTEGER e }; read n and e back out for the JWK.
        let (n, e) = try #require(rsaModulusAndExponent(der: Array(der)))
        let key = try EncryptionKey(jwk: ["kty": "RSA", "n": Data(n).base64URLEncodedString(), "e": Data(e).base64URLEncodedString()])
        let token = try JWE.encrypt(Array("payload".utf8), to: key, algorithm: .rsaOAEP256, contentType: "JWT")
        #expect(try JWE.decrypt(token, with: .rsa(recipient)).plaintext == Array("payload".utf8))
        #expect(throws: (any Error).self) { try JWE.encrypt([1], to: key, algorithm: .ecdhESA256KW) }
    }

    @Test func onlyPublicEncryptionKeysOfSupportedTypesAreAccepted() throws {
        let point = P256.KeyAgreement.PrivateKey().publicKey.x963Representation
        let ec: [String: Any] = [
            "kty": "EC", "crv": "P-256", "x": Data(point[1..<33]).base64URLEncodedString(), "y": Data(point[33..<65]).base64URLEncodedString(),
        ]
        #expect(throws: EncryptionKey.Problem.self) { try EncryptionKey(jwk: ec.merging(["use": "sig"]) { $1 }) }
        #expect(throws: EncryptionKey.Problem.self) { try EncryptionKey(jwk: ec.merging(["d": "AAAA"]) { $1 }) }
        #expect(throws: EncryptionKey.Problem.self) { try EncryptionKey(jwk: ec.merging(["crv": "P-384"]) { $1 }) }
        #expect(throws: EncryptionKey.Problem.self) { try EncryptionKey(jwk: ec.merging(["x": "AAAA"]) { $1 }) }
        #expect(throws: EncryptionKey.Problem.self) { try EncryptionKey(jwk: ["kty": "RSA", "n": Data(count: 128).base64URLEncodedString(), "e": "AQAB"]) }
        #expect(throws: EncryptionKey.Problem.self) { try EncryptionKey(jwk: ["kty": "oct", "k": "AAAA"]) }
        #expect(throws: EncryptionKey.Problem.self) { try EncryptionKey.select(from: ["keys": [ec]], for: .rsaOAEP256) }
        #expect(throws: EncryptionKey.Problem.self) { try EncryptionKey.select(from: ["keys": [ec.merging(["alg": "RSA-OAEP-256"]) { $1 }]], for: .ecdhESA256KW) }
        #expect(try EncryptionKey.select(from: ["keys": [ec.merging(["use": "sig"]) { $1 }, ec]], for: .ecdhESA256KW).serves(.ecdhESA256KW))
    }
}
