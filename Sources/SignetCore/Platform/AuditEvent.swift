import Foundation
import Logging
import PostgresNIO

/// A security event, as written to the append-only `audit_events` table.
/// `detail` holds non-secret facts only (never a password, token or secret).
public struct AuditEvent: Sendable, Equatable {
    public var type: String
    public var userID: UUID?
    public var clientID: String?
    public var sessionID: UUID?
    public var remoteAddress: String?
    public var detail: [String: String]

    public init(
        _ type: String, userID: UUID? = nil, clientID: String? = nil, sessionID: UUID? = nil,
        remoteAddress: String? = nil, detail: [String: String] = [:]
    ) {
        self.type = type
        self.userID = userID
        self.clientID = clientID
        self.sessionID = sessionID
        self.remoteAddress = remoteAddress
        self.detail = detail
    }

    var detailJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? String(decoding: encoder.encode(detail), as: UTF8.self)) ?? "{}"
    }
}
