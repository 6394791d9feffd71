import Foundation
import JWTKit

/// jwt-kit's JSON encoder for the JWTs Signet signs: headers and the claims types that write
/// themselves (``JSONWritable``) go through ``JSONWriter``; anything else through a compact
/// Foundation encoder without escaped slashes (e.g. `iss` URLs), as before.
struct TokenJSONEncoder: JWTJSONEncoder {
    private let fallback: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }()

    func encode<T: Encodable>(_ value: T) throws -> Data {
        if let header = value as? JWTHeader, let bytes = Self.headerBytes(header) {
            return Data(bytes)
        }
        if let writable = value as? any JSONWritable {
            return Data(writable.jsonBytes())
        }
        return try fallback.encode(value)
    }

    /// The header's members sorted by name when every value is a string (`alg`, `typ`, `kid` —
    /// all Signet's headers); `nil` sends anything else to the fallback encoder.
    static func headerBytes(_ header: JWTHeader) -> [UInt8]? {
        var writer = JSONWriter(capacity: 96)
        writer.beginObject()
        for (name, field) in header.fields.sorted(by: { $0.key < $1.key }) {
            guard case .string(let value) = field else { return nil }
            writer.key(name)
            writer.string(value)
        }
        writer.endObject()
        return writer.bytes
    }
}

extension AccessTokenClaims: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("acr", acr)
        writer.member("amr", amr)
        writer.key("aud")
        if aud.value.count == 1 { writer.string(aud.value[0]) } else { writer.strings(aud.value) }
        writer.member("auth_time", auth_time)
        writer.member("client_id", client_id)
        writer.member("cnf", cnf)
        writer.member("exp", exp)
        writer.member("iat", iat)
        writer.member("iss", iss)
        writer.member("jti", jti)
        writer.member("nbf", nbf)
        writer.member("roles", roles)
        writer.member("scope", scope)
        writer.member("sid", sid)
        writer.member("sub", sub)
        writer.member("sub_type", sub_type?.rawValue)
        writer.endObject()
    }
}

extension IDTokenClaims: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("acr", acr)
        writer.member("amr", amr)
        writer.member("at_hash", at_hash)
        writer.member("aud", aud)
        writer.member("auth_time", auth_time)
        writer.member("azp", azp)
        writer.member("email", email)
        writer.member("email_verified", email_verified)
        writer.member("exp", exp)
        writer.member("iat", iat)
        writer.member("iss", iss)
        writer.member("nonce", nonce)
        writer.member("preferred_username", preferred_username)
        writer.member("sid", sid)
        writer.member("sub", sub)
        writer.endObject()
    }
}

extension AccessTokenClaims.Confirmation: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("jkt", jkt)
        writer.endObject()
    }
}
