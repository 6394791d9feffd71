import Foundation
import Hummingbird
import SignetCore
import Synchronization

/// The documents gateways and client libraries fetch: the JWKS (RFC 7517), served from the key
/// ring's pre-encoded bytes with a strong ETag, and the discovery metadata (OIDC Discovery 1.0 /
/// RFC 8414), encoded once at start-up. Both answers are made once (body buffer and header
/// fields) and handed out as they are: a request costs the look-up, not an encoding.
struct WellKnownController: Sendable {
    let keys: KeyRing
    let discovery: ByteBuffer
    let jwksMaxAge: Int
    /// The JWKS answer for the key set last seen, rebuilt when its ETag changes (a rotation).
    private let prepared = PreparedJWKS()

    private final class PreparedJWKS: Sendable {
        struct Answer: Sendable {
            let etag: String
            let body: ByteBuffer
            let headers: HTTPFields
            let notModifiedHeaders: HTTPFields
        }

        let answer = Mutex<Answer?>(nil)
    }

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
        let answer = self.answer(for: keySet)
        if let tags = request.headers[.ifNoneMatch], Self.matches(tags, etag: answer.etag) {
            return Response(status: .notModified, headers: answer.notModifiedHeaders)
        }
        return Response(status: .ok, headers: answer.headers, body: .init(byteBuffer: answer.body))
    }

    private func answer(for keySet: KeySet) -> PreparedJWKS.Answer {
        prepared.answer.withLock { answer in
            if let answer, answer.etag == keySet.etag { return answer }
            let notModified: HTTPFields = [.cacheControl: "public, max-age=\(jwksMaxAge)", .eTag: keySet.etag]
            var headers = notModified
            headers[.contentType] = "application/json"
            let made = PreparedJWKS.Answer(
                etag: keySet.etag, body: ByteBuffer(data: keySet.jwks), headers: headers, notModifiedHeaders: notModified)
            answer = made
            return made
        }
    }

    @Sendable func metadata(_ request: Request, context: SignetRequestContext) async throws -> Response {
        Response(status: .ok, headers: Self.metadataHeaders, body: .init(byteBuffer: discovery))
    }

    private static let metadataHeaders: HTTPFields = [.contentType: "application/json", .cacheControl: "public, max-age=3600"]

    /// `If-None-Match` uses weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag equal to ours
    /// with or without `W/`.
    static func matches(_ header: String, etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
