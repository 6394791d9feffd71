import Hummingbird
import SignetCore

/// A listener's allow-list (`public.allowed_networks`, `admin.allowed_networks`): a client
/// address outside every listed network gets `403 {"error":"access_denied"}` before any other
/// work. Placed right after ``ClientAddressMiddleware``, so the address is the one the
/// trusted-proxy settings yield. An empty list lets every address through.
struct NetworkPolicy: RouterMiddleware {
    let allowed: [IPNetwork]

    static let refusal = SignetError(.accessDenied, "this address may not use this listener", kind: .forbidden)

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        guard allowed.isEmpty || context.clientAddress.map(allowed.containsAddress) == true else {
            return try jsonResponse(ErrorBody(Self.refusal), status: Self.refusal.status, headers: [.cacheControl: "no-store"])
        }
        return try await next(request, context)
    }
}
