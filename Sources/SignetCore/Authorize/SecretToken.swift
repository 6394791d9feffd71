import Crypto
import Foundation

/// A random bearer secret handed to a browser or client (a session cookie, an authorization
/// code): 256 bits, base64url. The database keeps only its SHA-256, so a database reader cannot
/// use one.
public struct SecretToken: Sendable, Equatable {
    public let value: String

    /// A fresh random secret.
    public init() {
        var generator = SystemRandomNumberGenerator()
        var bytes = Data(capacity: 32)
        for _ in 0..<4 {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        value = bytes.base64URLEncodedString()
    }

    /// A secret as presented; `nil` unless it has the shape of one (43 base64url characters).
    public init?(presented: String) {
        guard presented.utf8.count == 43, PKCE.isWellFormed(presented) else { return nil }
        value = presented
    }

    /// What is stored and looked up: SHA-256 of the text.
    public var hash: Data {
        Data(SHA256.hash(data: Data(value.utf8)))
    }
}
