import Foundation

/// The `otpauth://totp/` URI an authenticator app scans (Google Authenticator's Key Uri Format):
/// `otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
public enum OTPAuthURI {
    public static func totp(secret: [UInt8], issuer: String, account: String) -> String {
        // Label parts and parameter values are percent-encoded; ':' separates issuer and account.
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~@")
        func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
        let secretText = Base32.encode(secret, padding: false)
        return "otpauth://totp/\(encoded(issuer)):\(encoded(account))?secret=\(secretText)&issuer=\(encoded(issuer))"
            + "&algorithm=SHA1&digits=6&period=30"
    }

    /// The secret grouped by four characters, for typing it in by hand.
    public static func grouped(_ secret: [UInt8]) -> String {
        let text = Array(Base32.encode(secret, padding: false))
        return stride(from: 0, to: text.count, by: 4).map { String(text[$0..<min($0 + 4, text.count)]) }.joined(separator: " ")
    }
}
