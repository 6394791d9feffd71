import Crypto
import Foundation

/// Time-based one-time passwords (RFC 6238 on RFC 4226's HOTP) as authenticator apps compute
/// them: HMAC-SHA-1, 30-second steps, 6 digits by default. Computing and checking a code; which
/// steps a user has already spent (replay) is the caller's to keep.
public struct TOTP: Sendable {
    public let secret: [UInt8]
    public let digits: Int
    public let period: Int

    public init(secret: [UInt8], digits: Int = 6, period: Int = 30) {
        self.secret = secret
        self.digits = digits
        self.period = period
    }

    /// A new 160-bit secret from the system's generator (RFC 4226 §4 recommends 160 bits).
    public static func newSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<20).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The time step of `date`.
    public func step(at date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(period)).rounded(.down))
    }

    /// The code of `step`, zero-padded to `digits`.
    public func code(step: Int64) -> String {
        var counter = UInt64(bitPattern: step).bigEndian
        let message = withUnsafeBytes(of: &counter) { Data($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary = (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let text = String(binary % modulus)
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// The step within `window` steps of `date` whose code is `presented`, compared in constant
    /// time against every candidate; `nil` when none matches.
    public func matchingStep(_ presented: String, at date: Date, window: Int = 1) -> Int64? {
        let now = step(at: date)
        var found: Int64?
        for candidate in (now - Int64(window))...(now + Int64(window)) {
            if constantTimeEqual(Array(code(step: candidate).utf8), Array(presented.utf8)) && found == nil { found = candidate }
        }
        return found
    }
}
