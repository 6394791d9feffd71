import Crypto
import _CryptoExtras
import Foundation
import JWTKit

/// A public key as published in the JWKS (RFC 7517): public members only, plus `use` and `alg`.
public struct PublicJWK: Sendable, Codable, Equatable {
    public var kty: String
    public var kid: String = ""
    public var use: String = "sig"
    public var alg: String
    public var crv: String?
    public var x: String?
    public var y: String?
    public var n: String?
    public var e: String?

    init(kty: String, alg: String, crv: String? = nil, x: String? = nil, y: String? = nil, n: String? = nil, e: String? = nil) {
        self.kty = kty
        self.alg = alg
        self.crv = crv
        self.x = x
        self.y = y
        self.n = n
        self.e = e
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, base64url.
    public var thumbprint: String {
        let members: [(String, String?)] = switch kty {
        case "EC": [("crv", crv), ("kty", kty), ("x", x), ("y", y)]
        case "OKP": [("crv", crv), ("kty", kty), ("x", x)]
        default: [("e", e), ("kty", kty), ("n", n)]
        }
        let json = "{" + members.map { "\"\($0.0)\":\"\($0.1 ?? "")\"" }.joined(separator: ",") + "}"
        return Data(SHA256.hash(data: Data(json.utf8))).base64URLEncodedString()
    }
}
