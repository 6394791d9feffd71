import Hummingbird
import NIOCore
import SignetCore

/// The request context of both listeners: Hummingbird's core storage plus the peer address,
/// which audit events record.
public struct SignetRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// On the admin listener: the authenticated admin's user id, set by ``AdminAuthMiddleware``.
    public var actor: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The audit view of who is asking.
    var origin: RequestOrigin {
        RequestOrigin(remoteAddress: remoteAddress?.ipAddress, actor: actor)
    }
}
