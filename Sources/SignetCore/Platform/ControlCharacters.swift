import Foundation

/// Refuses NUL and other control characters in a field of user input.
func rejectControlCharacters(_ text: String, field: String) throws(SignetError) {
    if text.unicodeScalars.contains("\0") {
        throw SignetError.invalid(field: field, reason: "must not contain NUL")
    }
    if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
        throw SignetError.invalid(field: field, reason: "must not contain control characters")
    }
}
