import Crypto
import _CryptoExtras
import Foundation

/// JSON Web Encryption (RFC 7516) in the compact serialization, for the algorithms Signet offers
/// (RFC 7518): the content encryption key goes to the recipient by `ECDH-ES+A256KW` (an ephemeral
/// P-256 key, Concat KDF, AES key wrap) or `RSA-OAEP-256`, and the content is encrypted with
/// `A256GCM` under the protected header as additional data. jwt-kit has no JWE; every primitive
/// here is swift-crypto's except the Concat KDF.
public enum JWE {
    public enum KeyAlgorithm: String, Sendable, CaseIterable, Codable {
        case ecdhESA256KW = "ECDH-ES+A256KW"
        case rsaOAEP256 = "RSA-OAEP-256"
    }

    public enum ContentEncryption: String, Sendable, CaseIterable, Codable {
        case a256gcm = "A256GCM"
    }

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `plaintext` encrypted to `key`. `contentType` `JWT` marks a nested JWT (RFC 7519 §5.2).
    public static func encrypt(
        _ plaintext: [UInt8], to key: EncryptionKey, algorithm: KeyAlgorithm, encryption: ContentEncryption = .a256gcm,
        contentType: String? = nil
    ) throws -> String {
        let cek = SymmetricKey(size: .bits256)
        var header: [String: Any] = ["alg": algorithm.rawValue, "enc": encryption.rawValue]
        if let contentType { header["cty"] = contentType }
        if let kid = key.kid { header["kid"] = kid }
        let encryptedKey: Data
        switch (algorithm, key.material) {
        case (.ecdhESA256KW, .p256(let recipient)):
            let ephemeral = P256.KeyAgreement.PrivateKey()
            let point = ephemeral.publicKey.x963Representation
            header["epk"] = [
                "kty": "EC", "crv": "P-256",
                "x": Data(point[1..<33]).base64URLEncodedString(), "y": Data(point[33..<65]).base64URLEncodedString(),
            ]
            let shared = try ephemeral.sharedSecretFromKeyAgreement(with: recipient)
            let kek = keyEncryptionKey(shared, algorithm: algorithm)
            encryptedKey = try AES.KeyWrap.wrap(cek, using: kek)
        case (.rsaOAEP256, .rsa(let n, let e)):
            let recipient = try _RSA.Encryption.PublicKey(n: n, e: e)
            encryptedKey = try cek.withUnsafeBytes { try recipient.encrypt(Data($0), padding: .PKCS1_OAEP_SHA256) }
        default:
            throw Failure("the key does not serve \(algorithm.rawValue)")
        }
        let protected = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]).base64URLEncodedString()
        let sealed = try AES.GCM.seal(plaintext, using: cek, nonce: AES.GCM.Nonce(), authenticating: Data(protected.utf8))
        return [
            protected, encryptedKey.base64URLEncodedString(), Data(sealed.nonce).base64URLEncodedString(),
            sealed.ciphertext.base64URLEncodedString(), sealed.tag.base64URLEncodedString(),
        ].joined(separator: ".")
    }

    /// A recipient's private key, to decrypt.
    public enum DecryptionKey {
        case p256(P256.KeyAgreement.PrivateKey)
        case rsa(_RSA.Encryption.PrivateKey)
    }

    /// The protected header and plaintext of `compact`, if `key` can decrypt it and it is intact.
    public static func decrypt(_ compact: String, with key: DecryptionKey) throws -> (header: [String: Any], plaintext: [UInt8]) {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, let headerData = Data(base64URLEncoded: parts[0]),
              let header = try JSONSerialization.jsonObject(with: headerData) as? [String: Any],
              let encryptedKey = Data(base64URLEncoded: parts[1]), let iv = Data(base64URLEncoded: parts[2]),
              let ciphertext = Data(base64URLEncoded: parts[3]), let tag = Data(base64URLEncoded: parts[4])
        else { throw Failure("not a compact JWE") }
        guard header["enc"] as? String == ContentEncryption.a256gcm.rawValue,
              let algorithm = (header["alg"] as? String).flatMap(KeyAlgorithm.init(rawValue:))
        else { throw Failure("unsupported alg or enc") }
        let cek: SymmetricKey
        switch (algorithm, key) {
        case (.ecdhESA256KW, .p256(let privateKey)):
            guard let epk = header["epk"] as? [String: Any], let sender = try? EncryptionKey(jwk: epk), case .p256(let point) = sender.material
            else { throw Failure("epk is not a P-256 public key") }
            let kek = keyEncryptionKey(try privateKey.sharedSecretFromKeyAgreement(with: point), algorithm: algorithm)
            cek = try AES.KeyWrap.unwrap(encryptedKey, using: kek)
        case (.rsaOAEP256, .rsa(let privateKey)):
            cek = SymmetricKey(data: try privateKey.decrypt(encryptedKey, padding: .PKCS1_OAEP_SHA256))
        default:
            throw Failure("the key does not serve \(algorithm.rawValue)")
        }
        let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: iv), ciphertext: ciphertext, tag: tag)
        return (header, Array(try AES.GCM.open(box, using: cek, authenticating: Data(parts[0].utf8))))
    }

    /// The AES-256 key-wrapping key of ECDH-ES+A256KW: Concat KDF over the shared secret, with no
    /// party information (`apu`/`apv` are not sent).
    static func keyEncryptionKey(_ shared: SharedSecret, algorithm: KeyAlgorithm) -> SymmetricKey {
        let z = shared.withUnsafeBytes { Array($0) }
        return SymmetricKey(data: ConcatKDF.deriveKey(sharedSecret: z, keyBits: 256, algorithmID: algorithm.rawValue))
    }
}
