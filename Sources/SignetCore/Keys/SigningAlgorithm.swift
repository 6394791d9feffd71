import Crypto
import _CryptoExtras
import Foundation
import JWTKit

/// The JWS algorithms Signet signs access tokens with.
public enum SigningAlgorithm: String, Sendable, CaseIterable, Codable {
    case es256 = "ES256"
    case eddsa = "EdDSA"
    case rs256 = "RS256"
    case ps256 = "PS256"
}
