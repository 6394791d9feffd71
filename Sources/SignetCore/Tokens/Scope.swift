import Crypto
import Foundation
import Logging

/// OAuth scope strings (RFC 6749 §3.3): space-separated tokens of printable ASCII without `"` and `\`.
public enum Scope {
    public static func isValidToken(_ token: String) -> Bool {
        !token.isEmpty && token.utf8.count <= 128
            && token.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }

    /// Parses a `scope` parameter; `nil` when it is malformed.
    public static func parse(_ text: String) -> [String]? {
        let tokens = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard tokens.allSatisfy(isValidToken) else { return nil }
        return unique(tokens)
    }

    static func unique(_ tokens: [String]) -> [String] {
        var seen = Set<String>()
        return tokens.filter { seen.insert($0).inserted }
    }
}
