import Hummingbird
import NIOCore
import SignetCore

/// The request context of both listeners: Hummingbird's core storage plus the peer address and
/// the client address derived from it, which limits count under and audit events record.
public struct SignetRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The client: the peer, or the address a trusted proxy named (``ClientAddressMiddleware``).
    public var clientAddress: IPAddress?
    /// Who is calling, on routes behind ``BearerAuthenticator``.
    public var principal: Principal?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        clientAddress = remoteAddress?.ipAddress.flatMap { IPAddress($0) }
    }

    /// The audit view of who is asking.
    var origin: RequestOrigin {
        RequestOrigin(
            remoteAddress: clientAddress?.description ?? remoteAddress?.ipAddress,
            actor: principal?.user.id.uuidString.lowercased())
    }

    /// What per-address limits and login back-off count under: the client address (IPv6 by /64).
    var limitKey: String {
        clientAddress?.limitKey ?? "unknown"
    }
}
