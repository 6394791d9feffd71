import Foundation
import Logging
import PostgresNIO

/// A row of `signing_keys`, private key still sealed.
public struct StoredSigningKey: Sendable, Equatable {
    public enum State: String, Sendable {
        case next, current, retired
    }

    public var kid: String
    public var algorithm: SigningAlgorithm
    public var state: State
    public var sealedPrivateKey: Data
    public var createdAt: Date
    public var activatedAt: Date?
    public var publishUntil: Date?
}

/// A key about to be stored: its private half already sealed, its public JWK as JSON text.
public struct NewSigningKey: Sendable {
    public var kid: String
    public var algorithm: SigningAlgorithm
    public var sealed: Data
    public var publicJWK: String

    public init(kid: String, algorithm: SigningAlgorithm, sealed: Data, publicJWK: String) {
        self.kid = kid
        self.algorithm = algorithm
        self.sealed = sealed
        self.publicJWK = publicJWK
    }
}
