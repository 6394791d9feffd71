import Crypto
import Foundation

/// Proof Key for Code Exchange (RFC 7636), S256 only (RFC 9700 §2.1.1): `plain` would let anyone
/// who sees the authorization request redeem the code.
public enum PKCE {
    /// A verifier or challenge: 43-128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1, §4.2).
    static func isWellFormed(_ value: String) -> Bool {
        (43...128).contains(value.utf8.count)
            && value.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                     UInt8(ascii: "~"): true
                default: false
                }
            }
    }

    /// The S256 challenge of `verifier`: BASE64URL(SHA-256(ASCII(verifier))).
    public static func challenge(for verifier: String) -> String {
        Data(SHA256.hash(data: Data(verifier.utf8))).base64URLEncodedString()
    }

    /// The challenge an authorization request carries, checked: `nil` when it has none.
    /// A method other than S256 is refused, and so is a challenge without a method (that would be
    /// `plain`, RFC 7636 §4.3) or a method without a challenge.
    public static func requestedChallenge(challenge: String?, method: String?) throws(SignetError) -> String? {
        switch (challenge, method) {
        case (nil, nil):
            return nil
        case (nil, .some):
            throw SignetError.invalidRequest("code_challenge_method was sent without code_challenge")
        case (.some, nil):
            throw SignetError.invalidRequest("code_challenge_method is required and must be S256 (plain is not supported)")
        case (.some(let challenge), .some(let method)):
            guard method == "S256" else {
                throw SignetError.invalidRequest("code_challenge_method must be S256 (plain is not supported)")
            }
            // An S256 challenge is 32 bytes, base64url without padding.
            guard challenge.utf8.count == 43, isWellFormed(challenge) else {
                throw SignetError.invalidRequest("code_challenge must be a base64url SHA-256 (43 characters)")
            }
            return challenge
        }
    }
}
