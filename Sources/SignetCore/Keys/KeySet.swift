import Crypto
import Foundation
import JWTKit
import Logging
import ServiceLifecycle
import Synchronization

/// The signing keys as this node uses them: the current key to sign with, every published key to
/// verify with, and the JWKS document pre-encoded with its ETag.
public struct KeySet: Sendable {
    public let currentKid: String
    public let currentAlgorithm: SigningAlgorithm
    public let nextKid: String?
    /// The current kid of every algorithm with a lifecycle (ID tokens sign with these).
    public let currentKids: [SigningAlgorithm: String]
    /// kid → algorithm of every published key; a token whose header disagrees is refused.
    public let algorithms: [String: SigningAlgorithm]
    /// Holds only the published keys and no default, so an unknown kid fails (never a fallback).
    public let collection: JWTKeyCollection
    public let jwks: Data
    /// A strong ETag over `jwks`.
    public let etag: String
}
