import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SignetCore

/// An admin API refusal in the contract's shape `{"error": …, "error_description": …}`.
struct AdminError: Error {
    var status: HTTPResponse.Status
    var code: String
    var description: String

    static func notFound(_ what: String) -> AdminError { AdminError(status: .notFound, code: "not_found", description: "no such \(what)") }
    static func invalidRequest(_ description: String) -> AdminError {
        AdminError(status: .badRequest, code: "invalid_request", description: description)
    }
    static func conflict(_ description: String) -> AdminError { AdminError(status: .conflict, code: "conflict", description: description) }
}

/// Maps every error of the admin routes to a status and the contract's JSON shape, once, and marks
/// every admin answer `Cache-Control: no-store` (they describe users, sessions and secrets).
struct AdminErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await render(request, context: context, next: next)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    private func render(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as AdminError {
            return Self.render(error)
        } catch let error as BearerError {
            return error.response
        } catch let error as ValidationError {
            return Self.render(.invalidRequest("\(error.field) \(error.reason)"))
        } catch UserStoreError.notFound {
            return Self.render(.notFound("user"))
        } catch ClientStoreError.notFound {
            return Self.render(.notFound("client"))
        } catch RevocationError.notFound {
            return Self.render(.notFound("session or user"))
        } catch UserStoreError.usernameTaken {
            return Self.render(.conflict("a user with that username already exists"))
        } catch ClientStoreError.clientIDTaken {
            return Self.render(.conflict("a client with that client_id already exists"))
        } catch PasswordHasherError.overloaded {
            var response = Self.render(AdminError(status: .serviceUnavailable, code: "temporarily_unavailable", description: "password hashing is busy"))
            response.headers[.retryAfter] = "1"
            return response
        } catch is NIOTooManyBytesError {
            return Self.render(AdminError(status: .contentTooLarge, code: "request_too_large", description: "the body is too large"))
        } catch let error as HTTPError {
            return Self.render(AdminError(
                status: error.status, code: error.status == .contentTooLarge ? "request_too_large" : "invalid_request",
                description: error.body ?? error.status.reasonPhrase))
        }
    }

    static func render(_ error: AdminError) -> Response {
        (try? jsonResponse(ErrorBody(error: error.code, error_description: error.description), status: error.status,
                           headers: [.cacheControl: "no-store"])) ?? Response(status: error.status)
    }
}

/// Admits only live access tokens of this Signet issued for the admin API's own audience
/// (`admin.audience`, which only clients registered with it can obtain) whose user holds `admin`
/// now and held it when the token was issued (checked against the revocation list and the
/// user's current roles on every call); records the admin as actor.
struct AdminAuthMiddleware: RouterMiddleware {
    let services: TokenServices

    func handle(
        _ request: Request, context: SignetRequestContext, next: (Request, SignetRequestContext) async throws -> Response
    ) async throws -> Response {
        let (claims, user) = try await BearerAuthentication.user(
            request, services: services, audience: .exactly(services.environment.settings.adminAudience))
        guard user.roles.contains("admin"), claims.roles.contains("admin") else {
            throw AdminError(status: .forbidden, code: "insufficient_scope", description: "the admin role is required")
        }
        var context = context
        context.actor = claims.sub
        return try await next(request, context)
    }
}

/// Admin request bodies: a JSON object whose members must all be known (unknown → 400).
enum StrictJSON {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, allowed: Set<String>, limit: Int) async throws -> T {
        let body = try await request.body.collect(upTo: limit)
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw AdminError.invalidRequest("the body must be application/json")
        }
        let data = Data(buffer: body)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AdminError.invalidRequest("the body must be a JSON object")
        }
        if let name = RepeatedJSONMembers.first(in: data) {
            throw AdminError.invalidRequest("member \(name.debugDescription) is repeated")
        }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw AdminError.invalidRequest("unknown member \(unknown)")
        }
        for (name, value) in object where containsNUL(value) {
            throw AdminError.invalidRequest("\(name) contains a NUL character")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch DecodingError.keyNotFound(let key, _) {
            throw AdminError.invalidRequest("\(key.stringValue) is required")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw AdminError.invalidRequest("\(context.codingPath.first?.stringValue ?? "a member") has the wrong type")
        } catch DecodingError.dataCorrupted(let context) {
            throw AdminError.invalidRequest("\(context.codingPath.first?.stringValue ?? "a member") is invalid")
        }
    }
}

/// Whether a decoded JSON value holds a NUL anywhere (PostgreSQL text cannot store one).
private func containsNUL(_ value: Any) -> Bool {
    switch value {
    case let text as String: text.unicodeScalars.contains("\0")
    case let array as [Any]: array.contains(where: containsNUL)
    case let object as [String: Any]: object.contains { containsNUL($0.key) || containsNUL($0.value) }
    default: false
    }
}

extension Request {
    /// A query parameter, refused (400) if it holds control characters or is over-long.
    func query(_ name: String, maximumBytes: Int = 256) throws -> String? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard text.utf8.count <= maximumBytes,
              !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw AdminError.invalidRequest("query parameter \(name) is too long or contains control characters") }
        return text
    }

    /// A query parameter as a bounded integer, or 400.
    func limit(default value: Int = 100, maximum: Int = 1000) throws -> Int {
        guard let text = try query("limit") else { return value }
        guard let number = Int(text), (1...maximum).contains(number) else {
            throw AdminError.invalidRequest("limit must be 1...\(maximum)")
        }
        return number
    }
}

extension RequestContext {
    /// A UUID path parameter; an id that cannot exist is simply not found.
    func uuid(_ name: String, _ what: String) throws -> UUID {
        guard let text = parameters.get(name), let id = UUID(uuidString: text) else { throw AdminError.notFound(what) }
        return id
    }
}

/// ISO 8601 in UTC with fractional seconds, as every admin timestamp is written.
func isoString(_ date: Date) -> String {
    date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
}
