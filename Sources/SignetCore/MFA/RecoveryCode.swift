import Crypto
import Foundation

/// Recovery codes: single-use second factors for a lost authenticator. Ten at a time, each 50
/// random bits written as `xxxxx-xxxxx` in lower-case Base32. Only an HMAC-SHA-256 of each (under
/// a key derived from the master key, bound to the user) is stored, so a copy of the database
/// alone cannot be used to try candidates offline.
public enum RecoveryCode {
    public static let count = 10

    /// `count` new codes, as shown to the user.
    public static func generate(count: Int = RecoveryCode.count) -> [String] {
        (0..<count).map { _ in
            let text = Base32.encode(Array(TOTP.newSecret().prefix(7)), padding: false).lowercased().prefix(10)
            return "\(text.prefix(5))-\(text.suffix(5))"
        }
    }

    /// A code as typed, in canonical form (lower case, no spaces or hyphens), or nil unless it has
    /// the shape of one.
    public static func normalized(_ typed: String) -> String? {
        let text = typed.lowercased().filter { $0 != "-" && $0 != " " }
        guard text.count == 10, text.allSatisfy({ ("a"..."z").contains($0) || ("2"..."7").contains($0) }) else { return nil }
        return text
    }

    /// What is stored for `code` of `userID`.
    static func hash(_ code: String, userID: UUID, key: SymmetricKey) -> Data {
        let message = Data((userID.uuidString.lowercased() + ":" + (normalized(code) ?? code)).utf8)
        return Data(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }
}
