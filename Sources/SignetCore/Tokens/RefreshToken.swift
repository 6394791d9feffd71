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

    /// Decodes unpadded base64url; `nil` for any other alphabet.
    public init?(base64URLEncoded text: String) {
        guard text.utf8.allSatisfy({ $0.isBase64URL }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}

extension UInt8 {
    fileprivate var isBase64URL: Bool {
        (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || (0x30...0x39).contains(self) || self == 0x2D || self == 0x5F
    }
}
