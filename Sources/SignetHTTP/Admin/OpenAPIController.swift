import Foundation
import Hummingbird

/// `GET /openapi.yaml` on the admin listener: the OpenAPI 3.1 description of both listeners,
/// shipped as a resource of this module and read once.
struct OpenAPIController: Sendable {
    static let document: ByteBuffer? = Bundle.module.url(forResource: "openapi", withExtension: "yaml")
        .flatMap { try? Data(contentsOf: $0) }
        .map { ByteBuffer(data: $0) }

    var endpoints: RouteCollection<SignetRequestContext> {
        let routes = RouteCollection(context: SignetRequestContext.self)
        routes.get("openapi.yaml") { _, _ in
            guard let document = Self.document else {
                throw HTTPError(.notFound, message: "the OpenAPI document was not installed beside this binary")
            }
            return Response(
                status: .ok, headers: [.contentType: "application/yaml", .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: document))
        }
        return routes
    }
}
