import Configuration
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

/// Network allow-lists: per client (token, introspection, revocation) and per listener, with the
/// client address the trusted-proxy settings yield (here: a loopback proxy naming the client in
/// `X-Forwarded-For`).
@Suite("Network allow-lists", .timeLimit(.minutes(2)))
struct NetworkAllowListTests {
    static let behindProxy: [String: ConfigValue] = [
        "rate_limit.trusted_proxy_header": "X-Forwarded-For", "rate_limit.trusted_proxies": "127.0.0.0/8",
    ]

    /// A form POST from `address` (through the trusted loopback proxy; nil: the proxy itself).
    static func post(
        _ client: some TestClientProtocol, _ path: String, _ fields: [(String, String)], basic: (String, String), from address: String?
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .authorization: Form.basic(basic.0, basic.1)]
        if let address { headers[HTTPField.Name("X-Forwarded-For")!] = address }
        return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: Form.encode(fields)))
    }

    @Test func aClientWithNetworksIsRefusedFromEveryOtherAddress() async throws {
        try await TestServices.with(overrides: Self.behindProxy) { t in
            let gateway = try #require(try await t.services.clients.register(
                .init(clientID: "gateway", grantTypes: [.clientCredentials], scopes: ["api"],
                      allowedNetworks: ["198.51.100.0/24", "2001:db8::/32"]),
                lifetimes: t.settings.lifetimes
            ).secret)
            let anywhere = try #require(try await t.client("anywhere", grants: [.clientCredentials]))
            let app = Application(router: try buildPublicRouter(t.services), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let grant = [("grant_type", "client_credentials")]
                let inside = try await Self.post(client, "/oauth2/token", grant, basic: ("gateway", gateway), from: "198.51.100.7")
                #expect(inside.status == .ok)
                let token = try #require(inside.object["access_token"] as? String)
                #expect(try await Self.post(client, "/oauth2/token", grant, basic: ("gateway", gateway), from: "2001:db8::5").status == .ok)

                for (path, fields) in [("/oauth2/token", grant), ("/oauth2/introspect", [("token", token)]), ("/oauth2/revoke", [("token", token)])] {
                    let outside = try await Self.post(client, path, fields, basic: ("gateway", gateway), from: "203.0.113.9")
                    #expect(outside.status == .forbidden, "\(path)")
                    #expect(outside.object["error"] as? String == "access_denied", "\(path)")
                }
                // Without the proxy's header the client is the proxy (127.0.0.1): not listed either.
                #expect(try await Self.post(client, "/oauth2/token", grant, basic: ("gateway", gateway), from: nil).status == .forbidden)
                // Inside, introspection and revocation work.
                let introspected = try await Self.post(client, "/oauth2/introspect", [("token", token)], basic: ("gateway", gateway), from: "198.51.100.8")
                #expect(introspected.status == .ok && introspected.object["active"] as? Bool == true)
                // A client without networks is not affected.
                #expect(try await Self.post(client, "/oauth2/token", grant, basic: ("anywhere", anywhere), from: "203.0.113.9").status == .ok)
                // A wrong secret is still invalid_client (401), wherever it comes from.
                #expect(try await Self.post(client, "/oauth2/token", grant, basic: ("gateway", "wrong"), from: "203.0.113.9").status == .unauthorized)
            }
            let refused: [String] = try await t.database.column(
                "SELECT client_id || ' ' || remote_addr || ' ' || (detail->>'address') FROM audit_events WHERE type = 'client_network_refused' ORDER BY id")
            #expect(refused == Array(repeating: "gateway 203.0.113.9 203.0.113.9", count: 3) + ["gateway 127.0.0.1 127.0.0.1"])
        }
    }

    @Test func networksAreParsedStrictlyAtRegistration() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                for bad in [#"["10.0.0.1/8"]"#, #"["10.0.0.0/33"]"#, #"["example.com"]"#, #"[""]"#, #"["10.0.0.0/8 "]"#] {
                    let refused = try await client.admin(
                        .post, "/admin/clients", token: admin, json: #"{"grant_types":["client_credentials"],"allowed_networks":\#(bad)}"#)
                    #expect(refused.status == .badRequest, "\(bad)")
                    #expect(refused.object["error"] as? String == "invalid_request")
                    #expect((refused.object["error_description"] as? String)?.hasPrefix("allowed_networks") == true, "\(bad)")
                }
                let created = try await client.admin(
                    .post, "/admin/clients", token: admin,
                    json: #"{"client_id":"gw","grant_types":["client_credentials"],"allowed_networks":["10.0.0.0/8","192.0.2.1","2001:DB8::/32"]}"#)
                #expect(created.status == .created)
                #expect(created.object["allowed_networks"] as? [String] == ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"])
                let read = try await client.admin(.get, "/admin/clients/gw", token: admin)
                #expect(read.object["allowed_networks"] as? [String] == ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"])
                let open = try await client.admin(.post, "/admin/clients", token: admin, json: #"{"grant_types":["client_credentials"]}"#)
                #expect(open.object["allowed_networks"] as? [String] == [])
            }
        }
    }

    @Test func listenerAllowListsRefuseEveryOtherAddressBeforeAnyWork() async throws {
        var overrides = Self.behindProxy
        overrides["public.allowed_networks"] = "198.51.100.0/24, 2001:db8::/32"
        overrides["admin.allowed_networks"] = "10.1.0.0/16"
        try await TestServices.with(overrides: overrides) { t in
            let app = Application(router: try buildPublicRouter(t.services), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                func get(_ path: String, from address: String) async throws -> TestResponse {
                    try await client.execute(uri: path, method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: address])
                }
                #expect(try await get("/.well-known/openid-configuration", from: "198.51.100.7").status == .ok)
                #expect(try await get("/.well-known/jwks.json", from: "2001:db8::1").status == .ok)
                for path in ["/.well-known/openid-configuration", "/healthz", "/oauth2/authorize", "/no-such-path"] {
                    let refused = try await get(path, from: "203.0.113.9")
                    #expect(refused.status == .forbidden, "\(path)")
                    #expect(refused.object["error"] as? String == "access_denied", "\(path)")
                }
            }
            // The admin listener: refused before the token is even looked at.
            try await Application(router: try buildAdminRouter(t.services), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
                .test(.live) { client in
                    let metrics = try await client.execute(uri: "/metrics", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "10.2.0.1"])
                    #expect(metrics.status == .forbidden && metrics.object["error"] as? String == "access_denied")
                    let audit = try await client.execute(uri: "/admin/audit", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "127.0.0.1"])
                    #expect(audit.status == .forbidden, "no token needed to be refused")
                    let inside = try await client.execute(uri: "/metrics", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "10.1.2.3"])
                    #expect(inside.status == .ok)
                }
        }
    }
}
