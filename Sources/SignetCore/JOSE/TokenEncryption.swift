import Foundation

/// How a client wants a kind of token encrypted (OIDC Registration's `*_encrypted_response_alg`
/// and `*_enc`): the key-management algorithm and the content encryption.
public struct TokenEncryption: Sendable, Equatable {
    public var algorithm: JWE.KeyAlgorithm
    public var encryption: JWE.ContentEncryption

    public init(algorithm: JWE.KeyAlgorithm, encryption: JWE.ContentEncryption = .a256gcm) {
        self.algorithm = algorithm
        self.encryption = encryption
    }

    /// The setting from registration members: nil when neither is given; `enc` defaults to
    /// A256GCM (the only one offered) when only `alg` is; anything else is `invalid_client_metadata`.
    public static func parse(alg: String?, enc: String?, members prefix: String) throws(SignetError) -> TokenEncryption? {
        guard let alg else {
            if enc != nil { throw SignetError.invalidClientMetadata("\(prefix)_enc needs \(prefix)_alg") }
            return nil
        }
        guard let algorithm = JWE.KeyAlgorithm(rawValue: alg) else {
            throw SignetError.invalidClientMetadata(
                "\(prefix)_alg must be one of \(JWE.KeyAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let encryption = JWE.ContentEncryption(rawValue: enc ?? JWE.ContentEncryption.a256gcm.rawValue) else {
            throw SignetError.invalidClientMetadata("\(prefix)_enc must be A256GCM")
        }
        return TokenEncryption(algorithm: algorithm, encryption: encryption)
    }

    /// `token` (a signed JWT) encrypted to the client's key for this algorithm, as a nested JWT.
    public func encrypt(_ token: String, jwks: String?) throws -> String {
        guard let jwks else { throw JWE.Failure("the client has no jwks") }
        let key = try Self.recipientKey(in: jwks, for: algorithm)
        return try JWE.encrypt(Array(token.utf8), to: key, algorithm: algorithm, encryption: encryption, contentType: "JWT")
    }

    /// The recipient key chosen from a client's JWK Set, parsed once per set and algorithm (the
    /// set is the client's registered text: a new registration is a new key).
    static func recipientKey(in jwks: String, for algorithm: JWE.KeyAlgorithm) throws -> EncryptionKey {
        let cacheKey = algorithm.rawValue + " " + jwks
        if let key = recipientKeys[cacheKey] { return key }
        guard let set = try JSONSerialization.jsonObject(with: Data(jwks.utf8)) as? [String: Any] else {
            throw JWE.Failure("the client's jwks is not a JSON object")
        }
        let key = try EncryptionKey.select(from: set, for: algorithm)
        recipientKeys.store(key, for: cacheKey, ifStill: recipientKeys.generation)
        return key
    }

    /// Never invalidated: a registered set's text names its key for good.
    private static let recipientKeys = InvalidatedCache<String, EncryptionKey>(capacity: 1_000)
}
