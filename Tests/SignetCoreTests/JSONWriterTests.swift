import Foundation
import JWTKit
@testable import SignetCore
import Testing

@Suite("JSON written directly", .timeLimit(.minutes(1)))
struct JSONWriterTests {
    private func parsed(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func stringsAreEscapedAsRFC8259Requires() throws {
        let awkward = "quote \" backslash \\ slash / newline \n tab \t nul \u{0} bell \u{7} unit \u{1F} é 🔑"
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("text", awkward)
        writer.key("dynamic \"name\"")
        writer.string("x")
        writer.endObject()
        let text = String(decoding: writer.bytes, as: UTF8.self)
        #expect(text.contains(#"\u0000"#) && text.contains(#"\u0007"#) && text.contains(#"\u001f"#))
        #expect(text.contains(#"\n"#) && text.contains(#"\t"#) && text.contains(#"\""#) && text.contains(#"\\"#))
        #expect(text.contains("slash /"), "slashes are not escaped")
        #expect(!text.utf8.contains { $0 < 0x20 }, "no raw control character")
        let object = try parsed(writer.bytes)
        #expect(object["text"] as? String == awkward)
        #expect(object["dynamic \"name\""] as? String == "x")
    }

    @Test(arguments: [0, 7, -1, 42, Int.max, Int.min, 1_764_000_000])
    func integersRoundTrip(value: Int) throws {
        var writer = JSONWriter()
        writer.beginArray()
        writer.int(value)
        writer.endArray()
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "[\(value)]")
    }

    @Test func nestedValuesAndLeftOutMembers() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("absent", nil as String?)
        writer.member("flag", false)
        writer.member("list", ["a", "b"])
        writer.key("inner")
        writer.beginObject()
        writer.member("n", 1)
        writer.endObject()
        writer.key("empty")
        writer.strings([])
        writer.endObject()
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"flag":false,"list":["a","b"],"inner":{"n":1},"empty":[]}"#)
    }

    /// What the token endpoint and introspection send must decode to the same values Foundation's
    /// coders would have produced.
    @Test func tokenClaimsDecodeBackToThemselves() throws {
        let claims = AccessTokenClaims(
            iss: "http://127.0.0.1:8080", sub: UUID().uuidString.lowercased(), aud: ["api", "other"], exp: 1_800_000_300,
            iat: 1_800_000_000, nbf: 1_800_000_000, jti: "j\"ti", client_id: "web", scope: "openid api", sid: "s",
            roles: ["admin"], auth_time: 1_799_999_000, sub_type: .user, amr: ["pwd", "otp"], acr: "2",
            cnf: .init(jkt: "thumb"))
        #expect(try JSONDecoder().decode(AccessTokenClaims.self, from: Data(claims.jsonBytes())) == claims)
        var single = claims
        single.aud = AudienceClaim(value: ["api"])
        single.sid = nil
        single.cnf = nil
        let object = try parsed(single.jsonBytes())
        #expect(object["aud"] as? String == "api", "one audience is a plain string (RFC 7519 §4.1.3)")
        #expect(object["sid"] == nil && object["cnf"] == nil)
        #expect(try JSONDecoder().decode(AccessTokenClaims.self, from: Data(single.jsonBytes())) == single)

        let id = IDTokenClaims(
            iss: "http://127.0.0.1:8080", sub: "u", aud: "web", exp: 2, iat: 1, auth_time: 1, nonce: "n", at_hash: "h", sid: "s",
            amr: ["pwd"], acr: "1", azp: "web", email: nil, email_verified: nil, preferred_username: "ada")
        #expect(try JSONDecoder().decode(IDTokenClaims.self, from: Data(id.jsonBytes())) == id)

        let answer = TokenResponse(accessToken: "a.b.c", expiresIn: 300, refreshToken: nil, scope: "openid", tokenType: "DPoP")
        #expect(String(decoding: answer.jsonBytes(), as: UTF8.self)
                == #"{"access_token":"a.b.c","expires_in":300,"scope":"openid","token_type":"DPoP"}"#)
    }
}
