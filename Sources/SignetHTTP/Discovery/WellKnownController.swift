import Foundation
import Hummingbird
import SignetCore

/// The documents gateways and client libraries fetch: the JWKS (RFC 7517), served from the key
/// ring's pre-encoded bytes with a strong ETag, and the discovery metadata (OIDC Discovery 1.0 /
/// RFC 8414), encoded once at start-up.
struct WellKnownController: Sendable {
    let keys: KeyRing
    let discovery: ByteBuffer
    let jwksMaxAge: Int

    init(keys: KeyRing, settings: Settings) throws {
        self.keys = keys
        self.jwksMaxAge = settings.keys.jwksMaxAgeSeconds
        self.discovery = ByteBuffer(data: try sortedJSONEncoder.encode(DiscoveryDocument(settings: settings)))
    }

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get(".well-known/jwks.json", use: jwks)
        routes.get(".well-known/openid-configuration", use: metadata)
        routes.get(".well-known/oauth-authorization-server", use: metadata)
        return routes
    }

    @Sendable func jwks(_ request: Request, context: SignetRequestContext) async throws -> Response {
        let keySet: KeySet
        do {
            keySet = try await keys.keySet()
        } catch {
            throw HTTPError(.serviceUnavailable, message: "signing keys are not available")
        }
        var headers: HTTPFields = [.cacheControl: "public, max-age=\(jwksMaxAge)", .eTag: keySet.etag]
        if let tags = request.headers[.ifNoneMatch], Self.matches(tags, etag: keySet.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: keySet.jwks)))
    }

    @Sendable func metadata(_ request: Request, context: SignetRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=3600"],
            body: .init(byteBuffer: discovery))
    }

    /// `If-None-Match` uses weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag equal to ours
    /// with or without `W/`.
    static func matches(_ header: String, etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
