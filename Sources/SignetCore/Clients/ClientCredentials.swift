import Crypto
import Foundation
import Logging

/// How a caller identified itself as a client at an OAuth endpoint.
public enum ClientCredentials: Sendable, Equatable {
    /// HTTP Basic (`client_secret_basic`).
    case basic(clientID: String, secret: String)
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    case post(clientID: String, secret: String)
    /// `client_id` alone: a public client (`none`).
    case none(clientID: String)

    public var clientID: String {
        switch self {
        case .basic(let id, _), .post(let id, _), .none(let id): id
        }
    }
}
