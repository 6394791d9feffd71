import Crypto
import Foundation

/// Seals secrets kept in the database (private signing keys, TOTP secrets) with AES-256-GCM under
/// a key derived from the master key for each `purpose`. The associated data binds each ciphertext
/// to its row (a key id, a user id), so sealed values cannot be swapped between rows.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public init(masterKey: MasterKey, purpose: String = "signing-key-seal/v1") {
        key = masterKey.derive(purpose)
    }

    public func seal(_ plaintext: Data, context: String) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: key, authenticating: Data(context.utf8)).combined else {
            throw CryptoKitError.incorrectParameterSize
        }
        return combined
    }

    public func open(_ sealed: Data, context: String) throws -> Data {
        try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: Data(context.utf8))
    }
}
