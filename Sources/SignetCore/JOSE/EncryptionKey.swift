import Crypto
import _CryptoExtras
import Foundation

/// A recipient's public key for JWE, taken from a client's registered `jwks` (RFC 7517): an EC
/// P-256 key for `ECDH-ES+A256KW` or an RSA key of at least 2048 bits for `RSA-OAEP-256`. Keys
/// marked `use: sig` are never used for encryption.
public struct EncryptionKey: Sendable {
    public enum Material: Sendable {
        case p256(P256.KeyAgreement.PublicKey)
        /// Modulus and exponent (the key type is not `Sendable`; it is made when used).
        case rsa(n: Data, e: Data)
    }

    public let material: Material
    public let kid: String?

    /// Why a JWK cannot be used for encryption.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The key of one JWK object (its members as decoded JSON).
    public init(jwk: [String: Any]) throws(Problem) {
        if let use = jwk["use"] as? String, use != "enc" { throw Problem("a key with use \"\(use)\" is not for encryption") }
        if jwk["d"] != nil || jwk["p"] != nil { throw Problem("a private key was given; register public keys only") }
        kid = jwk["kid"] as? String
        switch jwk["kty"] as? String {
        case "EC":
            guard jwk["crv"] as? String == "P-256" else { throw Problem("only the EC curve P-256 is supported") }
            guard let x = (jwk["x"] as? String).flatMap(Data.init(base64URLEncoded:)),
                  let y = (jwk["y"] as? String).flatMap(Data.init(base64URLEncoded:)), x.count == 32, y.count == 32,
                  let key = try? P256.KeyAgreement.PublicKey(x963Representation: [0x04] + x + y)
            else { throw Problem("x and y must be a point on P-256 (32 bytes each, base64url)") }
            material = .p256(key)
        case "RSA":
            guard let n = (jwk["n"] as? String).flatMap(Data.init(base64URLEncoded:)),
                  let e = (jwk["e"] as? String).flatMap(Data.init(base64URLEncoded:)), !e.isEmpty
            else { throw Problem("n and e must be base64url") }
            let bits = (n.drop { $0 == 0 }.count) * 8
            guard bits >= 2048, bits <= 8192 else { throw Problem("an RSA key must have 2048 to 8192 bits") }
            guard (try? _RSA.Encryption.PublicKey(n: n, e: e)) != nil else { throw Problem("n and e are not an RSA public key") }
            material = .rsa(n: n, e: e)
        default:
            throw Problem("kty must be EC or RSA")
        }
    }

    /// Whether this key serves `algorithm`.
    public func serves(_ algorithm: JWE.KeyAlgorithm) -> Bool {
        switch (material, algorithm) {
        case (.p256, .ecdhESA256KW), (.rsa, .rsaOAEP256): true
        default: false
        }
    }

    /// The first key of a JWK Set (`{"keys":[…]}`) usable for `algorithm`, or why there is none.
    public static func select(from jwks: [String: Any], for algorithm: JWE.KeyAlgorithm) throws(Problem) -> EncryptionKey {
        guard let keys = jwks["keys"] as? [[String: Any]] else { throw Problem("jwks must be a JWK Set: {\"keys\":[…]}") }
        for jwk in keys where (jwk["use"] as? String ?? "enc") == "enc" {
            if let alg = jwk["alg"] as? String, alg != algorithm.rawValue { continue }
            if let key = try? EncryptionKey(jwk: jwk), key.serves(algorithm) { return key }
        }
        throw Problem("jwks has no public key with use enc for \(algorithm.rawValue)")
    }
}
