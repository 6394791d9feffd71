import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore

/// Admin request bodies: a JSON object whose members must all be known (unknown → 400).
enum StrictJSON {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, allowed: Set<String>, limit: Int) async throws -> T {
        let body = try await request.body.collect(upTo: limit)
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw SignetError.invalidRequest("the body must be application/json")
        }
        let data = Data(buffer: body)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SignetError.invalidRequest("the body must be a JSON object")
        }
        if let name = RepeatedJSONMembers.first(in: data) {
            throw SignetError.invalidRequest("member \(name.debugDescription) is repeated")
        }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw SignetError.invalidRequest("unknown member \(unknown)")
        }
        for (name, value) in object where containsNUL(value) {
            throw SignetError.invalidRequest("\(name) contains a NUL character")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch DecodingError.keyNotFound(let key, _) {
            throw SignetError.invalidRequest("\(key.stringValue) is required")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw SignetError.invalidRequest("\(context.codingPath.first?.stringValue ?? "a member") has the wrong type")
        } catch DecodingError.dataCorrupted(let context) {
            throw SignetError.invalidRequest("\(context.codingPath.first?.stringValue ?? "a member") is invalid")
        }
    }
}

/// Whether a decoded JSON value holds a NUL anywhere (PostgreSQL text cannot store one).
private func containsNUL(_ value: Any) -> Bool {
    switch value {
    case let text as String: text.unicodeScalars.contains("\0")
    case let array as [Any]: array.contains(where: containsNUL)
    case let object as [String: Any]: object.contains { containsNUL($0.key) || containsNUL($0.value) }
    default: false
    }
}
