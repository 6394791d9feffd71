import Configuration
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SignetCore

#if canImport(Glibc)
import Glibc
#endif

/// The connection limits both listeners share: an idle timeout, a deadline for receiving each
/// request (``RequestReadDeadline``), and a cap on open connections per listener, so that slow
/// or idle clients can hold neither connections nor file descriptors for long.
///
/// Over the cap, the listener stops accepting: further clients wait in the kernel's backlog
/// (using no descriptor here) until a connection closes. The caps of both listeners are kept
/// below the process's descriptor limit (raised to its hard limit at start-up where allowed),
/// so the limit itself is never reached.
struct ListenerLimits: Sendable {
    let idleTimeout: TimeAmount
    let readTimeout: TimeAmount
    let maximumConnections: Int

    /// Descriptors kept for everything but client connections: the database pool, listening
    /// sockets, event loops, files and logs.
    static let reservedDescriptors = 128

    init(settings: Settings, descriptorLimit: Int, logger: Logger) {
        idleTimeout = .seconds(Int64(settings.http.idleTimeoutSeconds))
        readTimeout = .seconds(Int64(settings.http.readTimeoutSeconds))
        // Both listeners together, plus NIO's accept batch of up to 4 beyond each cap.
        let available = max(2, (descriptorLimit - Self.reservedDescriptors - settings.database.poolSize) / 2 - 4)
        if settings.http.maximumConnections > available {
            logger.warning(
                "http.max_connections lowered to stay below the descriptor limit",
                metadata: ["configured": "\(settings.http.maximumConnections)", "used": "\(available)",
                           "descriptor_limit": "\(descriptorLimit)"])
        }
        maximumConnections = min(settings.http.maximumConnections, available)
    }

    /// The HTTP/1 server with the idle timeout and the request-read deadline.
    func server(logger: Logger) -> HTTPServerBuilder {
        let readTimeout = readTimeout
        return .http1(configuration: .init(
            additionalChannelHandlers: [RequestReadDeadline(headTimeout: readTimeout, bodyTimeout: readTimeout, logger: logger)],
            idleTimeout: idleTimeout))
    }

    /// A listener's configuration (host and port from `reader`) with the connection cap.
    func configuration(reader: ConfigReader, logger: Logger) -> ApplicationConfiguration {
        var configuration = ApplicationConfiguration(reader: reader)
        configuration.availableConnectionsDelegate = MaximumAvailableConnections(maximumConnections, logger: logger)
        return configuration
    }

    /// Raises the soft limit on open descriptors to the hard limit (as most servers do) and
    /// returns the limit in force.
    static func raiseDescriptorLimit() -> Int {
        #if canImport(Glibc)
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
        #else
        return 1024
        #endif
    }
}
