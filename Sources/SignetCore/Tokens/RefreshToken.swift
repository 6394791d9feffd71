import Crypto
import Foundation

/// A refresh token: `version ‖ session id ‖ counter ‖ tag`, base64url without padding.
///
/// The tag is HMAC-SHA-256 truncated to 128 bits under a key derived from the master key and the
/// session id. Nothing stored in the database is enough to make or check one; the session row's
/// `refresh_counter` says which counter is the live one.
public struct RefreshToken: Sendable, Equatable {
    public static let version: UInt8 = 1
    static let tagLength = 16
    static let encodedLength = 1 + 16 + 8 + tagLength

    public var sessionID: UUID
    public var counter: Int64

    public init(sessionID: UUID, counter: Int64) {
        self.sessionID = sessionID
        self.counter = counter
    }

    /// The token's text, for the client.
    public func encoded(with masterKey: MasterKey) -> String {
        var bytes = body
        bytes.append(contentsOf: Self.tag(for: bytes, sessionID: sessionID, masterKey: masterKey))
        return Data(bytes).base64URLEncodedString()
    }

    /// Parses and authenticates `text`; `nil` for anything malformed, forged or altered.
    public init?(verifying text: String, with masterKey: MasterKey) {
        guard text.utf8.count <= 64, let data = Data(base64URLEncoded: text), data.count == Self.encodedLength,
              data.first == Self.version
        else { return nil }
        let bytes = [UInt8](data)
        let sessionID = UUID(uuid: (bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                                    bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15], bytes[16]))
        let counter = bytes[17..<25].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let body = Array(bytes[..<25])
        let expected = Self.tag(for: body, sessionID: sessionID, masterKey: masterKey)
        guard counter >= 0, constantTimeEqual(expected, Array(bytes[25...])) else { return nil }
        self.sessionID = sessionID
        self.counter = counter
    }

    private var body: [UInt8] {
        var bytes: [UInt8] = [Self.version]
        withUnsafeBytes(of: sessionID.uuid) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: counter.bigEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    private static func tag(for body: [UInt8], sessionID: UUID, masterKey: MasterKey) -> [UInt8] {
        let salt = withUnsafeBytes(of: sessionID.uuid) { Data($0) }
        let key = masterKey.derive("refresh-token/v1", salt: salt)
        return Array(HMAC<SHA256>.authenticationCode(for: body, using: key).prefix(tagLength))
    }
}

/// Compares two byte strings in time independent of where they differ.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}

extension Data {
    /// RFC 4648 §5 base64url, without padding.
    public func base64URLEncodedString() -> String {
        var bytes = Array(base64EncodedData())
        while bytes.last == UInt8(ascii: "=") { bytes.removeLast() }
        for index in bytes.indices {
            if bytes[index] == UInt8(ascii: "+") { bytes[index] = UInt8(ascii: "-") }
            else if bytes[index] == UInt8(ascii: "/") { bytes[index] = UInt8(ascii: "_") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decodes unpadded base64url; `nil` for any other alphabet, a length no encoding has, or
    /// leftover bits that are not zero (only the canonical text of a value is accepted). Decoded
    /// in one pass over the UTF-8 (tokens, proofs and JWT headers pass through here on every request).
    public init?(base64URLEncoded text: String) {
        var text = text
        guard let bytes = text.withUTF8({ Self.decodeBase64URL($0) }) else { return nil }
        self.init(bytes)
    }

    private static func decodeBase64URL(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let remainder = text.count % 4
        guard remainder != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 4 * 3 + 2)
        var index = 0
        while index + 4 <= text.count {
            let a = base64URLValues[Int(text[index])], b = base64URLValues[Int(text[index + 1])]
            let c = base64URLValues[Int(text[index + 2])], d = base64URLValues[Int(text[index + 3])]
            guard (a | b | c | d) & 0x80 == 0 else { return nil }
            bytes.append(a << 2 | b >> 4)
            bytes.append(b << 4 | c >> 2)
            bytes.append(c << 6 | d)
            index += 4
        }
        if remainder >= 2 {
            let a = base64URLValues[Int(text[index])], b = base64URLValues[Int(text[index + 1])]
            let c = remainder == 3 ? base64URLValues[Int(text[index + 2])] : 0
            guard (a | b | c) & 0x80 == 0 else { return nil }
            bytes.append(a << 2 | b >> 4)
            if remainder == 3 {
                guard c & 0x03 == 0 else { return nil }
                bytes.append(b << 4 | c >> 2)
            } else {
                guard b & 0x0F == 0 else { return nil }
            }
        }
        return bytes
    }

    /// Each byte's value in the base64url alphabet, 0xFF for bytes outside it.
    private static let base64URLValues: [UInt8] = {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8.enumerated() {
            values[Int(character)] = UInt8(value)
        }
        return values
    }()
}
