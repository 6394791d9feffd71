import Crypto
import Foundation
import SignetCore
import SignetTestSupport
import Testing
import _CryptoExtras

/// DPoP proofs signed with RSA keys (RS256 and PS256), checked without a server: the signature,
/// the key type, and the thumbprint that `cnf.jkt` carries.
@Suite("DPoP proofs", .timeLimit(.minutes(1)))
struct DPoPProofTests {
    static func proof(alg: String, key: _RSA.Signing.PrivateKey, n: [UInt8], e: [UInt8], signWith padding: _RSA.Signing.Padding) throws -> String {
        let jwk = ["kty": "RSA", "n": Data(n).base64URLEncodedString(), "e": Data(e).base64URLEncodedString()]
        let header: [String: Any] = ["typ": "dpop+jwt", "alg": alg, "jwk": jwk]
        let claims: [String: Any] = ["jti": UUID().uuidString, "htm": "POST", "htu": "https://id.example.com/oauth2/token", "iat": Int(Date().timeIntervalSince1970)]
        let input = try JSONSerialization.data(withJSONObject: header).base64URLEncodedString() + "."
            + JSONSerialization.data(withJSONObject: claims).base64URLEncodedString()
        let signature = try key.signature(for: Data(input.utf8), padding: padding)
        return input + "." + signature.rawRepresentation.base64URLEncodedString()
    }

    @Test func rsaProofsVerifyWithTheirPaddingOnly() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let encryptionView = try _RSA.Encryption.PublicKey(derRepresentation: key.publicKey.derRepresentation)
        let (n, e) = try #require(rsaModulusAndExponent(der: Array(encryptionView.pkcs1DERRepresentation)))
        let url = "https://ID.example.com:443/oauth2/token?ignored=1"
        for (alg, padding) in [("RS256", _RSA.Signing.Padding.insecurePKCS1v1_5), ("PS256", .PSS)] {
            let proof = try Self.proof(alg: alg, key: key, n: n, e: e, signWith: padding)
            let checked = try DPoPProof(verifying: proof, method: "POST", url: url)
            let thumbprintJSON = #"{"e":"\#(Data(e).base64URLEncodedString())","kty":"RSA","n":"\#(Data(n).base64URLEncodedString())"}"#
            #expect(checked.jkt == Data(SHA256.hash(data: Data(thumbprintJSON.utf8))).base64URLEncodedString(), "RFC 7638 \(alg)")
        }
        // A PKCS#1 v1.5 signature does not pass as PS256, nor PSS as RS256.
        let mislabelled = try Self.proof(alg: "PS256", key: key, n: n, e: e, signWith: .insecurePKCS1v1_5)
        #expect(throws: SignetError.self) { try DPoPProof(verifying: mislabelled, method: "POST", url: url) }
        let swapped = try Self.proof(alg: "RS256", key: key, n: n, e: e, signWith: .PSS)
        #expect(throws: SignetError.self) { try DPoPProof(verifying: swapped, method: "POST", url: url) }
    }
}
