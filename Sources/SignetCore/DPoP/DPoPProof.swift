import Crypto
import Foundation
import _CryptoExtras

/// A DPoP proof (RFC 9449 §4): a JWT signed by the client's key, which travels in its header.
/// Checked here without any state: the header (`typ: dpop+jwt`, an asymmetric `alg`, a public
/// `jwk`), the signature by that very key, and the claims (`htm`, `htu`, `iat` within the window,
/// a `jti`, and `ath` when an access token goes with it). Whether the `jti` was seen before is
/// ``DPoPReplayStore``'s.
public struct DPoPProof: Sendable, Equatable {
    /// RFC 7638 thumbprint of the proof's key: what `cnf.jkt` binds a token to.
    public let jkt: String
    public let jti: String
    public let issuedAt: Date

    /// Signature algorithms accepted in proofs (discovery's `dpop_signing_alg_values_supported`).
    public static let algorithms = ["ES256", "EdDSA", "RS256", "PS256"]

    /// How far `iat` may be from now, either way.
    public static let window: TimeInterval = 60

    static func refuse(_ reason: String) -> SignetError {
        SignetError(.invalidDPoPProof, "the DPoP proof \(reason)")
    }

    /// Checks `proof` for a request of `method` to `url` (scheme, host and path; no query), with
    /// `accessToken` when one is presented with it (then `ath` must be its SHA-256).
    public init(verifying proof: String, method: String, url: String, accessToken: String? = nil, now: Date = Date()) throws(SignetError) {
        guard proof.utf8.count <= 8192 else { throw Self.refuse("is too long") }
        let parts = proof.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let headerData = Data(base64URLEncoded: parts[0]), let claimsData = Data(base64URLEncoded: parts[1]),
              let signature = Data(base64URLEncoded: parts[2]),
              let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any],
              let claims = (try? JSONSerialization.jsonObject(with: claimsData)) as? [String: Any]
        else { throw Self.refuse("is not a signed JWT") }
        guard header["typ"] as? String == "dpop+jwt" else { throw Self.refuse("must have typ dpop+jwt") }
        guard let alg = header["alg"] as? String, Self.algorithms.contains(alg) else {
            throw Self.refuse("must be signed with one of \(Self.algorithms.joined(separator: ", "))")
        }
        guard let jwk = header["jwk"] as? [String: Any] else { throw Self.refuse("must carry its public key as jwk") }
        if ["d", "p", "q", "dp", "dq", "qi", "k"].contains(where: { jwk[$0] != nil }) { throw Self.refuse("carries a private key") }
        let (valid, thumbprint) = try Self.check(signature, of: Data((parts[0] + "." + parts[1]).utf8), alg: alg, jwk: jwk)
        guard valid else { throw Self.refuse("signature does not verify with its jwk") }

        guard let jti = claims["jti"] as? String, !jti.isEmpty, jti.utf8.count <= 256 else { throw Self.refuse("needs a jti") }
        guard claims["htm"] as? String == method else { throw Self.refuse("htm must be \(method)") }
        guard let htu = claims["htu"] as? String, Self.normalized(htu) == Self.normalized(url) else {
            throw Self.refuse("htu must be \(url)")
        }
        guard let iat = claims["iat"] as? Double ?? (claims["iat"] as? Int).map(Double.init) else { throw Self.refuse("needs an iat") }
        guard abs(now.timeIntervalSince1970 - iat) <= Self.window else { throw Self.refuse("iat is too far from now") }
        if let accessToken {
            let expected = Data(SHA256.hash(data: Data(accessToken.utf8))).base64URLEncodedString()
            guard claims["ath"] as? String == expected else { throw Self.refuse("ath must be the access token's SHA-256") }
        }
        jkt = thumbprint
        self.jti = jti
        issuedAt = Date(timeIntervalSince1970: iat)
    }

    /// Whether `signature` over `input` verifies with `jwk` under `alg`, and the key's thumbprint.
    private static func check(_ signature: Data, of input: Data, alg: String, jwk: [String: Any]) throws(SignetError) -> (Bool, String) {
        func member(_ name: String) throws(SignetError) -> String {
            guard let text = jwk[name] as? String, Data(base64URLEncoded: text) != nil || name == "crv" || name == "kty" else {
                throw refuse("jwk lacks a valid \(name)")
            }
            return text
        }
        let kty = try member("kty")
        switch (alg, kty) {
        case ("ES256", "EC"):
            let (crv, x, y) = (try member("crv"), try member("x"), try member("y"))
            guard crv == "P-256", let xb = Data(base64URLEncoded: x), let yb = Data(base64URLEncoded: y), xb.count == 32, yb.count == 32,
                  let key = try? P256.Signing.PublicKey(x963Representation: [0x04] + xb + yb)
            else { throw refuse("jwk is not a P-256 key") }
            let valid = (try? P256.Signing.ECDSASignature(rawRepresentation: signature)).map { key.isValidSignature($0, for: input) } ?? false
            return (valid, PublicJWK(kty: "EC", alg: alg, crv: crv, x: x, y: y).thumbprint)
        case ("EdDSA", "OKP"):
            let (crv, x) = (try member("crv"), try member("x"))
            guard crv == "Ed25519", let xb = Data(base64URLEncoded: x), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: xb)
            else { throw refuse("jwk is not an Ed25519 key") }
            return (key.isValidSignature(signature, for: input), PublicJWK(kty: "OKP", alg: alg, crv: crv, x: x).thumbprint)
        case ("RS256", "RSA"), ("PS256", "RSA"):
            let (n, e) = (try member("n"), try member("e"))
            guard let nb = Data(base64URLEncoded: n), let eb = Data(base64URLEncoded: e), nb.drop(while: { $0 == 0 }).count >= 256,
                  let key = try? _RSA.Signing.PublicKey(n: nb, e: eb)
            else { throw refuse("jwk is not an RSA key of at least 2048 bits") }
            let padding: _RSA.Signing.Padding = alg == "PS256" ? .PSS : .insecurePKCS1v1_5
            let valid = key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: input, padding: padding)
            return (valid, PublicJWK(kty: "RSA", alg: alg, n: n, e: e).thumbprint)
        default:
            throw refuse("jwk (\(kty)) does not fit alg \(alg)")
        }
    }

    /// A URL as `htu` compares it (RFC 9449 §4.3): no query or fragment, scheme and host in lower case.
    static func normalized(_ url: String) -> String? {
        guard var components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host?.lowercased()
        else { return nil }
        components.query = nil
        components.fragment = nil
        components.scheme = scheme
        components.host = host
        if (scheme == "https" && components.port == 443) || (scheme == "http" && components.port == 80) { components.port = nil }
        return components.string
    }
}
