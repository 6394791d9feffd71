import Foundation

/// Rules a new password must meet (NIST SP 800-63B style: length, not composition).
public enum PasswordPolicy {
    public static let minimumCharacters = 8
    public static let maximumBytes = 1024

    public static func validate(_ password: String, field: String = "password") throws(SignetError) {
        guard password.count >= minimumCharacters else {
            throw SignetError.invalid(field: field, reason: "must be at least \(minimumCharacters) characters")
        }
        guard password.utf8.count <= maximumBytes else {
            throw SignetError.invalid(field: field, reason: "must be at most \(maximumBytes) bytes")
        }
        try rejectControlCharacters(password, field: field)
    }

    /// The cheap checks made before hashing a presented (login) password: an over-long or
    /// NUL-containing password can never match, so it is refused without spending a hash on it.
    public static func isPlausible(_ password: String) -> Bool {
        !password.isEmpty && password.utf8.count <= maximumBytes && !password.unicodeScalars.contains("\0")
    }
}
