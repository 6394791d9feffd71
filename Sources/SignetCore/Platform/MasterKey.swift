import Crypto
import Foundation

/// The root secret of a Signet deployment (32 random bytes). Every other server-side key is derived
/// from it with HKDF-SHA-256 under a purpose label, so the database never holds a usable key.
public struct MasterKey: Sendable {
    private let key: SymmetricKey

    public init(bytes: some ContiguousBytes) throws(MasterKeyError) {
        let key = SymmetricKey(data: bytes)
        guard key.bitCount == 256 else { throw .wrongLength(key.bitCount / 8) }
        self.key = key
    }

    /// Parses the base64 text of a key file or variable (surrounding whitespace ignored).
    public init(base64 text: String) throws(MasterKeyError) {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw .notBase64
        }
        try self.init(bytes: data)
    }

    /// Loads the key from `settings.masterKey` if set, otherwise from `settings.masterKeyFile`.
    public static func load(from settings: Settings) throws(MasterKeyError) -> MasterKey {
        if let text = settings.masterKey { return try MasterKey(base64: text) }
        let path = settings.masterKeyFile
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        return try MasterKey(base64: String(decoding: data, as: UTF8.self))
    }

    /// A fresh random key, e.g. for tests or `scripts/run.sh`'s development key.
    public static func random() -> MasterKey {
        try! MasterKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
    }

    /// A value that identifies this key without revealing it (HMAC-SHA-256 under a derived key),
    /// stored once so that a node started with another master key can tell and refuse to run.
    public var checkValue: Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data("signet master key check".utf8), using: derive("master-key-check/v1")))
    }

    /// A 256-bit key for one purpose; `salt` separates instances of the purpose (e.g. a session id).
    public func derive(_ purpose: String, salt: some DataProtocol = Data()) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: key, salt: salt, info: Data("signet/\(purpose)".utf8), outputByteCount: 32)
    }
}

public enum MasterKeyError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case notBase64
    case wrongLength(Int)
    /// The key is not the one the database's keys and client secrets were made with.
    case mismatch

    public var description: String {
        switch self {
        case .mismatch:
            "the master key is not the one this database was set up with (master_key / master_key_file); refusing to run"
        case .unreadable(let path):
            "cannot read the master key file \(path) (master_key_file / SIGNET_MASTER_KEY_FILE); scripts/run.sh creates a development key"
        case .notBase64: "the master key must be 32 random bytes, base64-encoded"
        case .wrongLength(let count): "the master key must be 32 bytes, got \(count)"
        }
    }
}
