import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore

extension Request {
    /// A query parameter, refused (400) if it holds control characters or is over-long.
    func query(_ name: String, maximumBytes: Int = 256) throws -> String? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard text.utf8.count <= maximumBytes,
              !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw SignetError.invalidRequest("query parameter \(name) is too long or contains control characters") }
        return text
    }

    /// A query parameter as a bounded integer, or 400.
    func limit(default value: Int = 100, maximum: Int = 1000) throws -> Int {
        guard let text = try query("limit") else { return value }
        guard let number = Int(text), (1...maximum).contains(number) else {
            throw SignetError.invalidRequest("limit must be 1...\(maximum)")
        }
        return number
    }
}

extension RequestContext {
    /// A UUID path parameter; an id that cannot exist is simply not found.
    func uuid(_ name: String, _ what: String) throws -> UUID {
        guard let text = parameters.get(name), let id = UUID(uuidString: text) else { throw SignetError.notFound(what) }
        return id
    }
}

/// ISO 8601 in UTC with fractional seconds, as every admin timestamp is written.
func isoString(_ date: Date) -> String {
    date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
}
