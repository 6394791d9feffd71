import Crypto
import Foundation
import Hummingbird

/// `GET /assets/signet.css`: the pages' one stylesheet, served by Signet itself (no external
/// assets), cacheable, with a strong ETag.
struct AssetsController: Sendable {
    static let stylesheet: ByteBuffer? = Bundle.module.url(forResource: "signet", withExtension: "css")
        .flatMap { try? Data(contentsOf: $0) }
        .map { ByteBuffer(data: $0) }
    static let etag: String = stylesheet.map {
        "\"" + Data(SHA256.hash(data: Data(buffer: $0))).prefix(12).base64EncodedString() + "\""
    } ?? "\"none\""

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("assets/signet.css") { request, _ in
            guard let stylesheet = Self.stylesheet else { return Response(status: .notFound) }
            var headers: HTTPFields = [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600", .eTag: Self.etag]
            if let tags = request.headers[.ifNoneMatch], WellKnownController.matches(tags, etag: Self.etag) {
                headers[.contentType] = nil
                return Response(status: .notModified, headers: headers)
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: stylesheet))
        }
        return routes
    }
}
