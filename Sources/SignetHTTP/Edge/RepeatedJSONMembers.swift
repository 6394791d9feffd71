import Foundation

/// Finds a member name that occurs twice in one JSON object. Foundation's parser keeps the last
/// of repeated members silently, so `{"username":"nobody","username":"admin"}` would read as
/// `admin`; Signet refuses such bodies, as it refuses repeated form parameters.
///
/// Run it only on text that already parsed as JSON: it trusts the structure and only walks it,
/// decoding a name only when it holds an escape (so `"user\u006eame"` is `username`).
enum RepeatedJSONMembers {
    static func first(in data: Data) -> String? {
        data.withUnsafeBytes { first(in: $0.bindMemory(to: UInt8.self)) }
    }

    private static func first(in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        // One set of names per open container; `nil` marks an array.
        var scopes: [Set<String>?] = []
        var expectingName = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                scopes.append([])
                expectingName = true
            case UInt8(ascii: "["):
                scopes.append(nil)
                expectingName = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = scopes.popLast()
                expectingName = false
            case UInt8(ascii: ","):
                expectingName = scopes.last.map { $0 != nil } ?? false
            case quote:
                let start = index
                var escaped = false
                index += 1
                while index < bytes.count && bytes[index] != quote {
                    if bytes[index] == backslash {
                        escaped = true
                        index += 1
                    }
                    index += 1
                }
                if expectingName, var names = scopes.popLast() ?? nil {
                    let raw = UnsafeBufferPointer(rebasing: bytes[start...min(index, bytes.count - 1)])
                    let name = escaped ? decoded(raw) : String(decoding: raw.dropFirst().dropLast(), as: UTF8.self)
                    if !names.insert(name).inserted { return name }
                    scopes.append(names)
                    expectingName = false
                }
            default:
                break
            }
            index += 1
        }
        return nil
    }

    private static func decoded(_ raw: UnsafeBufferPointer<UInt8>) -> String {
        (try? JSONSerialization.jsonObject(with: Data(raw), options: .fragmentsAllowed) as? String) ?? String(decoding: raw, as: UTF8.self)
    }
}
