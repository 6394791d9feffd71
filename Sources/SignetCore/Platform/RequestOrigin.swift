import Foundation
import Logging
import PostgresNIO

/// Who asked, for audit events: the peer address and, for administrative changes, the actor
/// (an admin's user id, or `cli` for the command line).
public struct RequestOrigin: Sendable, Equatable {
    public var remoteAddress: String?
    public var actor: String?

    public init(remoteAddress: String? = nil, actor: String? = nil) {
        self.remoteAddress = remoteAddress
        self.actor = actor
    }

    /// The command line on this machine.
    public static let commandLine = RequestOrigin(actor: "cli")

    /// An audit event of `type` from this origin, with `actor` added to `detail` when known.
    public func event(
        _ type: String, userID: UUID? = nil, clientID: String? = nil, sessionID: UUID? = nil, detail: [String: String] = [:]
    ) -> AuditEvent {
        var detail = detail
        if let actor { detail["actor"] = actor }
        return AuditEvent(type, userID: userID, clientID: clientID, sessionID: sessionID, remoteAddress: remoteAddress, detail: detail)
    }
}
