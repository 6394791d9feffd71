import Foundation

/// A username in its canonical form: Unicode NFKC with case folding, so "Alice" and "ＡＬＩＣＥ"
/// are the same account. Only canonical, valid names can be constructed.
///
/// Like PRECIS UsernameCaseMapped (RFC 8265), characters that render as nothing or reorder text
/// are refused, so no name can look like another: format characters (zero-width spaces and
/// joiners, soft hyphens, word joiners, bidirectional controls), unassigned and private-use code
/// points, line and paragraph separators, and white space at either end.
public struct Username: Sendable, Hashable, CustomStringConvertible {
    public static let maximumBytes = 256
    public let value: String

    public init(_ raw: String) throws(SignetError) {
        guard !raw.isEmpty else { throw SignetError.invalid(field: "username", reason: "must not be empty") }
        try rejectControlCharacters(raw, field: "username")
        let normalized = Username.normalize(raw)
        guard !normalized.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw SignetError.invalid(field: "username", reason: "must not be blank")
        }
        if let invisible = normalized.unicodeScalars.first(where: Username.isRefused) {
            let code = "U+" + String(invisible.value, radix: 16, uppercase: true).leftPadded(to: 4)
            throw SignetError.invalid(field: "username", reason: "must not contain invisible, unassigned or private-use characters (\(code))")
        }
        if normalized.first?.isWhitespace == true || normalized.last?.isWhitespace == true {
            throw SignetError.invalid(field: "username", reason: "must not start or end with white space")
        }
        guard normalized.utf8.count <= Username.maximumBytes else {
            throw SignetError.invalid(field: "username", reason: "must be at most \(Username.maximumBytes) bytes")
        }
        value = normalized
    }

    /// Wraps a value read back from the database, where it was stored already normalized.
    init(stored: String) { value = stored }

    /// NFKC, then full case folding, then NFKC again (folding can denormalize).
    public static func normalize(_ raw: String) -> String {
        raw.precomposedStringWithCompatibilityMapping
            .folding(options: [.caseInsensitive], locale: nil)
            .precomposedStringWithCompatibilityMapping
    }

    public var description: String { value }

    private static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .format, .unassigned, .privateUse, .surrogate, .lineSeparator, .paragraphSeparator: true
        default: scalar.properties.isDefaultIgnorableCodePoint || scalar.properties.isNoncharacterCodePoint
        }
    }
}

