import Foundation

/// A field of user input that failed validation; `field` names the parameter for the client.
public struct ValidationError: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

func rejectControlCharacters(_ text: String, field: String) throws(ValidationError) {
    if text.unicodeScalars.contains("\0") {
        throw ValidationError(field: field, reason: "must not contain NUL")
    }
    if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
        throw ValidationError(field: field, reason: "must not contain control characters")
    }
}
