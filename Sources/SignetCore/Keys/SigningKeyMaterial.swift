import Crypto
import _CryptoExtras
import Foundation
import JWTKit

/// A signing key pair in memory: its id, algorithm, private key bytes and public JWK.
///
/// Private bytes only leave this type sealed (``SecretBox``); its description never shows them.
public struct SigningKeyMaterial: Sendable, CustomStringConvertible {
    public let kid: String
    public let algorithm: SigningAlgorithm
    /// P-256 and Ed25519: the raw scalar; RSA: PKCS#1 DER.
    let privateBytes: Data
    public let publicJWK: PublicJWK

    public var description: String { "SigningKeyMaterial(kid: \(kid), alg: \(algorithm.rawValue))" }

    /// A new key pair; RSA keys are 2048 bits.
    public static func generate(_ algorithm: SigningAlgorithm) throws -> SigningKeyMaterial {
        switch algorithm {
        case .es256:
            try SigningKeyMaterial(algorithm: algorithm, privateBytes: P256.Signing.PrivateKey().rawRepresentation)
        case .eddsa:
            try SigningKeyMaterial(algorithm: algorithm, privateBytes: Curve25519.Signing.PrivateKey().rawRepresentation)
        case .rs256, .ps256:
            try SigningKeyMaterial(algorithm: algorithm, privateBytes: _RSA.Signing.PrivateKey(keySize: .bits2048).derRepresentation)
        }
    }

    /// Rebuilds a key from its private bytes (after unsealing); the kid is recomputed and must match.
    public init(algorithm: SigningAlgorithm, privateBytes: Data) throws {
        self.algorithm = algorithm
        self.privateBytes = privateBytes
        var jwk: PublicJWK
        switch algorithm {
        case .es256:
            let point = try P256.Signing.PrivateKey(rawRepresentation: privateBytes).publicKey.x963Representation
            jwk = PublicJWK(kty: "EC", alg: algorithm.rawValue, crv: "P-256",
                            x: point[1...32].base64URLEncodedString(), y: point[33...64].base64URLEncodedString())
        case .eddsa:
            let raw = try Curve25519.Signing.PrivateKey(rawRepresentation: privateBytes).publicKey.rawRepresentation
            jwk = PublicJWK(kty: "OKP", alg: algorithm.rawValue, crv: "Ed25519", x: raw.base64URLEncodedString())
        case .rs256, .ps256:
            let publicKey = try Insecure.RSA.PublicKey(backing: _RSA.Signing.PrivateKey(derRepresentation: privateBytes).publicKey)
            let (modulus, exponent) = try publicKey.getKeyPrimitives()
            jwk = PublicJWK(kty: "RSA", alg: algorithm.rawValue, n: modulus.base64URLEncodedString(), e: exponent.base64URLEncodedString())
        }
        jwk.kid = jwk.thumbprint
        kid = jwk.kid
        publicJWK = jwk
    }

    /// Adds this key to `collection` under its kid, for signing and verifying.
    func add(to collection: JWTKeyCollection) async throws {
        let kid = JWKIdentifier(string: kid)
        let serializer = Self.serializer
        switch algorithm {
        case .es256:
            await collection.add(ecdsa: try ES256PrivateKey(backing: P256.Signing.PrivateKey(rawRepresentation: privateBytes)), kid: kid, serializer: serializer)
        case .eddsa:
            await collection.add(eddsa: EdDSA.PrivateKey(backing: try Curve25519.Signing.PrivateKey(rawRepresentation: privateBytes)), kid: kid, serializer: serializer)
        case .rs256:
            await collection.add(rsa: try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(derRepresentation: privateBytes)), digestAlgorithm: .sha256, kid: kid, serializer: serializer)
        case .ps256:
            await collection.add(pss: try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(derRepresentation: privateBytes)), digestAlgorithm: .sha256, kid: kid, serializer: serializer)
        }
    }

    /// Compact JSON written directly for Signet's headers and claims (no escaped slashes in URLs
    /// such as `iss`).
    private static let serializer = DefaultJWTSerializer(jsonEncoder: TokenJSONEncoder())

    /// The private key sealed for storage; the associated data binds it to kid and algorithm.
    public func sealed(with box: SecretBox) throws -> Data {
        try box.seal(privateBytes, context: "\(kid)|\(algorithm.rawValue)")
    }

    /// Opens a sealed key and checks it is the key `kid` names.
    public static func unseal(_ sealed: Data, kid: String, algorithm: SigningAlgorithm, with box: SecretBox) throws -> SigningKeyMaterial {
        let key = try SigningKeyMaterial(algorithm: algorithm, privateBytes: try box.open(sealed, context: "\(kid)|\(algorithm.rawValue)"))
        guard key.kid == kid else { throw SigningKeyError.kidMismatch(kid) }
        return key
    }
}

public enum SigningKeyError: Error, Equatable {
    case kidMismatch(String)
}
