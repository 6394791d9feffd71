import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore
import Synchronization

/// Sets the request's client address: the peer's, unless the peer is a trusted proxy and the
/// configured header names another. Then the header's entries are read right to left, skipping
/// trusted proxies; the first other address is the client (a malformed entry ends the walk at
/// the last address trusted so far). A header from any other peer is ignored.
struct ClientAddressMiddleware: RouterMiddleware {
    let header: HTTPField.Name?
    let trustedProxies: [IPNetwork]

    init(settings: Settings) {
        header = settings.rateLimits.trustedProxyHeader.flatMap { HTTPField.Name($0) }
        trustedProxies = settings.rateLimits.trustedProxies
    }

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let header, let peer = context.clientAddress, trustedProxies.containsAddress(peer) else {
            return try await next(request, context)
        }
        var context = context
        context.clientAddress = client(behind: peer, named: request.headers[values: header])
        return try await next(request, context)
    }

    func client(behind peer: IPAddress, named values: [String]) -> IPAddress {
        var client = peer
        for entry in values.joined(separator: ",").split(separator: ",").reversed() {
            guard let address = IPAddress(entry.trimmingCharacters(in: .whitespaces)) else { break }
            client = address
            if !trustedProxies.containsAddress(address) { break }
        }
        return client
    }
}
