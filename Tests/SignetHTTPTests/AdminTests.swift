import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

extension TestClientProtocol {
    func admin(_ method: HTTPRequest.Method, _ path: String, token: String?, json: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
    }
}

@Suite("Admin API", .timeLimit(.minutes(2)))
struct AdminTests {
    @Test func everyCallNeedsALiveAdminToken() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            try await t.user("plain", roles: ["user"])
            let user = try await t.login("plain", client: "admin-cli").accessToken
            let revoked = try await t.adminLogin().accessToken
            try await t.services.revocations.revoke(.token(revoked), origin: RequestOrigin())
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let path = "/admin/audit"
                let none = try await client.admin(.get, path, token: nil)
                #expect(none.status == .unauthorized)
                #expect(none.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                #expect(try await client.admin(.get, path, token: "garbage").status == .unauthorized)
                #expect(try await client.execute(uri: path, method: .get, headers: [.authorization: "Basic YTpi"]).status == .unauthorized)
                let forbidden = try await client.admin(.get, path, token: user)
                #expect(forbidden.status == .forbidden)
                #expect(forbidden.object["error"] as? String == "insufficient_scope")
                #expect(try await client.admin(.get, path, token: revoked).status == .unauthorized)
                let allowed = try await client.admin(.get, path, token: admin)
                #expect(allowed.status == .ok)
                #expect(allowed.headers[.cacheControl] == "no-store")

                let root = try #require(try await t.services.environment.users.store.find(username: Username("root")))
                _ = try await t.services.environment.users.update(id: root.id, .init(roles: ["user"]), origin: RequestOrigin())
                #expect(try await client.admin(.get, path, token: admin).status == .forbidden, "roles are checked on every call")
            }
        }
    }

    @Test func adminRoutesAreNotOnThePublicListener() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                let audit = try await client.admin(.get, "/admin/audit", token: admin)
                let create = try await client.admin(.post, "/admin/users", token: admin, json: "{}")
                #expect(audit.status == .notFound && create.status == .notFound)
            }
        }
    }

    @Test func userLifecycle() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let created = try await client.admin(.post, "/admin/users", token: admin,
                    json: #"{"username":"Grace","password":"grace's password","email":"grace@example.com","roles":["user"]}"#)
                #expect(created.status == .created)
                let user = created.object
                #expect(Set(user.keys) == ["id", "username", "email", "roles", "disabled", "created_at"])
                #expect(user["username"] as? String == "grace")
                #expect(user["roles"] as? [String] == ["user"])
                #expect(user["disabled"] as? Bool == false)
                #expect(!String(buffer: created.body).contains("argon2"))
                let id = try #require(user["id"] as? String)

                let duplicate = try await client.admin(.post, "/admin/users", token: admin, json: #"{"username":"ＧＲＡＣＥ","password":"another password"}"#)
                #expect(duplicate.status == .conflict)
                let unknownMember = try await client.admin(.post, "/admin/users", token: admin, json: #"{"username":"h","password":"long enough pw","admin":true}"#)
                #expect(unknownMember.status == .badRequest)
                #expect(unknownMember.object["error"] as? String == "invalid_request")
                #expect((unknownMember.object["error_description"] as? String)?.contains("admin") == true)
                #expect(try await client.admin(.post, "/admin/users", token: admin, json: #"{"username":"h","password":"short"}"#).status == .badRequest)
                #expect(try await client.admin(.post, "/admin/users", token: admin, json: #"{"username":"h"}"#).status == .badRequest)
                #expect(try await client.admin(.post, "/admin/users", token: admin, json: #"["x"]"#).status == .badRequest)
                #expect(try await client.admin(.post, "/admin/users", token: admin, json: #"{"username":5,"password":"long enough pw"}"#).status == .badRequest)

                let read = try await client.admin(.get, "/admin/users/\(id)", token: admin)
                #expect(read.status == .ok && read.object["username"] as? String == "grace")
                #expect(try await client.admin(.get, "/admin/users/\(UUID())", token: admin).status == .notFound)
                #expect(try await client.admin(.get, "/admin/users/not-a-uuid", token: admin).status == .notFound)

                let patched = try await client.admin(.patch, "/admin/users/\(id)", token: admin, json: #"{"roles":["user","auditor"]}"#)
                #expect(patched.status == .ok && patched.object["roles"] as? [String] == ["user", "auditor"])
                #expect(try await client.admin(.patch, "/admin/users/\(id)", token: admin, json: #"{"username":"x"}"#).status == .badRequest)
                #expect(try await client.admin(.patch, "/admin/users/\(UUID())", token: admin, json: #"{"disabled":true}"#).status == .notFound)

                try await t.client("web")
                let session = try await t.login("grace", password: "grace's password", client: "web")
                let changed = try await client.admin(.patch, "/admin/users/\(id)", token: admin, json: #"{"password":"grace's new password"}"#)
                #expect(changed.status == .ok)
                let web = try #require(try await t.services.clients.store.find(clientID: "web")?.client)
                await #expect(throws: SignetError.self, "a password change ends the user's sessions") {
                    try await t.services.grants.refresh(client: web, refreshToken: session.refreshToken!, scope: nil, origin: RequestOrigin())
                }

                let again = try await t.login("grace", password: "grace's new password", client: "web")
                let disabled = try await client.admin(.patch, "/admin/users/\(id)", token: admin, json: #"{"disabled":true}"#)
                #expect(disabled.object["disabled"] as? Bool == true)
                await #expect(throws: SignetError.self) {
                    try await t.services.grants.refresh(client: web, refreshToken: again.refreshToken!, scope: nil, origin: RequestOrigin())
                }
                _ = try await client.admin(.patch, "/admin/users/\(id)", token: admin, json: #"{"disabled":false}"#)

                let last = try await t.login("grace", password: "grace's new password", client: "web")
                #expect(try await client.admin(.delete, "/admin/users/\(id)", token: admin).status == .noContent)
                #expect(try await client.admin(.get, "/admin/users/\(id)", token: admin).status == .notFound)
                #expect(try await client.admin(.delete, "/admin/users/\(id)", token: admin).status == .notFound)
                await #expect(throws: SignetError.self, "a deleted user's refresh fails") {
                    try await t.services.grants.refresh(client: web, refreshToken: last.refreshToken!, scope: nil, origin: RequestOrigin())
                }
                await #expect(throws: (any Error).self) { try await t.services.verifier.verify(last.accessToken, audience: .any) }
            }
        }
    }

    @Test func sessionsListTheUsersLiveRefreshFamilies() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            let hal = try await t.user("hal")
            try await t.client("web")
            let first = try await t.login("hal", client: "web")
            let second = try await t.login("hal", client: "web", scope: "openid")
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let listed = try await client.admin(.get, "/admin/users/\(hal.id)/sessions", token: admin)
                #expect(listed.status == .ok)
                let sessions = try #require(listed.object["sessions"] as? [[String: Any]])
                #expect(sessions.count == 2)
                let sids = Set(try [first, second].map { try DecodedJWT($0.accessToken).claims["sid"] as! String })
                #expect(Set(sessions.compactMap { $0["id"] as? String }) == sids)
                #expect(Set(sessions[0].keys) == ["id", "client_id", "scope", "created_at", "last_used_at", "expires_at"])

                let sid = try DecodedJWT(first.accessToken).claims["sid"] as! String
                #expect(try await client.admin(.post, "/admin/revocations", token: admin, json: #"{"session_id":"\#(sid)"}"#).status == .created)
                let after = try await client.admin(.get, "/admin/users/\(hal.id)/sessions", token: admin)
                #expect((after.object["sessions"] as? [[String: Any]])?.count == 1)
                #expect(try await client.admin(.get, "/admin/users/\(UUID())/sessions", token: admin).status == .notFound)
            }
        }
    }

    @Test func clientsAreRegisteredReadAndRemoved() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            try await t.user("ivy")
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let created = try await client.admin(.post, "/admin/clients", token: admin, json: """
                    {"client_id":"shop","client_name":"Shop","token_endpoint_auth_method":"client_secret_post",
                     "grant_types":["password","refresh_token"],"scope":"openid api","audience":"https://api.shop"}
                    """)
                #expect(created.status == .created)
                #expect(created.headers[.cacheControl] == "no-store")
                let secret = try #require(created.object["client_secret"] as? String)
                #expect(created.object["scope"] as? String == "openid api")
                #expect(created.object["grant_types"] as? [String] == ["password", "refresh_token"])
                #expect(created.object["client_secret_expires_at"] as? Int == 0)

                let read = try await client.admin(.get, "/admin/clients/shop", token: admin)
                #expect(read.status == .ok)
                #expect(read.object["client_secret"] == nil && !String(buffer: read.body).contains(secret))
                #expect(read.object["token_endpoint_auth_method"] as? String == "client_secret_post")

                let spa = try await client.admin(.post, "/admin/clients", token: admin, json: #"{"token_endpoint_auth_method":"none","grant_types":["password"],"scope":"openid"}"#)
                #expect(spa.status == .created && spa.object["client_secret"] == nil)
                #expect((spa.object["client_id"] as? String)?.isEmpty == false, "a client id is generated when none is given")

                #expect(try await client.admin(.post, "/admin/clients", token: admin, json: #"{"grant_types":["implicit"]}"#).status == .badRequest)
                // Browser sign-in metadata, in and out (RFC 7591 names).
                let web = try await client.admin(.post, "/admin/clients", token: admin, json: """
                    {"client_id":"wiki","grant_types":["authorization_code","refresh_token"],"redirect_uris":["https://wiki.example/cb"],
                     "post_logout_redirect_uris":["https://wiki.example/"],"response_types":["code"],"skip_consent":true,
                     "id_token_signed_response_alg":"ES256"}
                    """)
                #expect(web.status == .created)
                #expect(web.object["redirect_uris"] as? [String] == ["https://wiki.example/cb"])
                #expect(web.object["post_logout_redirect_uris"] as? [String] == ["https://wiki.example/"])
                #expect(web.object["response_types"] as? [String] == ["code"] && web.object["require_pkce"] as? Bool == true)
                #expect(web.object["skip_consent"] as? Bool == true && web.object["id_token_signed_response_alg"] as? String == "ES256")
                for body in [
                    #"{"grant_types":["authorization_code"]}"#,
                    #"{"grant_types":["authorization_code"],"redirect_uris":["http://wiki.example/cb"]}"#,
                    #"{"grant_types":["authorization_code"],"redirect_uris":["https://a.example/cb"],"id_token_signed_response_alg":"HS256"}"#,
                    #"{"token_endpoint_auth_method":"none","grant_types":["authorization_code"],"redirect_uris":["https://a.example/cb"],"require_pkce":false}"#,
                    #"{"grant_types":["password"],"response_types":["token"]}"#,
                ] {
                    let refused = try await client.admin(.post, "/admin/clients", token: admin, json: body)
                    #expect(refused.status == .badRequest, "\(body)")
                }
                #expect(try await client.admin(.post, "/admin/clients", token: admin, json: #"{"client_id":"shop","grant_types":["password"]}"#).status == .conflict)
                #expect(try await client.admin(.post, "/admin/clients", token: admin, json: #"{"grant_types":["password"],"jwks_uri":"https://x.example/jwks"}"#).status == .badRequest, "an unknown member")

                let session = try await t.login("ivy", client: "shop")
                #expect(try await client.admin(.delete, "/admin/clients/shop", token: admin).status == .noContent)
                #expect(try await client.admin(.get, "/admin/clients/shop", token: admin).status == .notFound)
                #expect(try await client.admin(.delete, "/admin/clients/shop", token: admin).status == .notFound)
                await #expect(throws: SignetError.invalidClient) {
                    try await t.services.clients.authenticate(.post(clientID: "shop", secret: secret))
                }
                await #expect(throws: (any Error).self, "the client's tokens die with it") { try await t.services.verifier.verify(session.accessToken, audience: .any) }
            }
        }
    }

    @Test func revocationByEachSelectorTakesEffectAtOnce() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            let jack = try await t.user("jack")
            try await t.client("web")
            let web = try #require(try await t.services.clients.store.find(clientID: "web")?.client)
            @Sendable func refreshFails(_ token: TokenResponse) async -> Bool {
                (try? await t.services.grants.refresh(client: web, refreshToken: token.refreshToken!, scope: nil, origin: RequestOrigin())) == nil
            }
            @Sendable func inactive(_ token: TokenResponse) async throws -> Bool {
                try await !t.services.introspection.introspect(token: token.accessToken, client: web).active
            }
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let byJTI = try await t.login("jack", client: "web")
                let jti = try DecodedJWT(byJTI.accessToken).claims["jti"] as! String
                #expect(try await client.admin(.post, "/admin/revocations", token: admin, json: #"{"jti":"\#(jti)"}"#).status == .created)
                #expect(try await inactive(byJTI))
                #expect(await !refreshFails(byJTI), "a jti revocation leaves the session")

                let bySession = try await t.login("jack", client: "web")
                let sid = try DecodedJWT(bySession.accessToken).claims["sid"] as! String
                #expect(try await client.admin(.post, "/admin/revocations", token: admin, json: #"{"session_id":"\#(sid)"}"#).status == .created)
                #expect(await refreshFails(bySession))
                #expect(try await inactive(bySession))

                let byToken = try await t.login("jack", client: "web")
                let revokedByToken = try await client.admin(.post, "/admin/revocations", token: admin, json: #"{"token":"\#(byToken.refreshToken!)"}"#)
                #expect(revokedByToken.status == .created)
                #expect(!String(buffer: revokedByToken.body).contains(byToken.refreshToken!), "tokens are never echoed")
                #expect(await refreshFails(byToken))

                let one = try await t.login("jack", client: "web")
                let two = try await t.login("jack", client: "web")
                #expect(try await client.admin(.post, "/admin/revocations", token: admin, json: #"{"user_id":"\#(jack.id)"}"#).status == .created)
                for token in [one, two] {
                    #expect(await refreshFails(token))
                    #expect(try await inactive(token))
                }
                let fresh = try await t.login("jack", client: "web")
                #expect(try await !inactive(fresh), "a user revocation ends earlier tokens, not later logins")

                for body in ["{}", #"{"jti":"a","session_id":"\#(UUID())"}"#, #"{"token":"not a token"}"#, #"{"reason":"x"}"#] {
                    #expect(try await client.admin(.post, "/admin/revocations", token: admin, json: body).status == .badRequest, "\(body)")
                }
                #expect(try await client.admin(.post, "/admin/revocations", token: admin, json: #"{"session_id":"\#(UUID())"}"#).status == .notFound)
                #expect(try await client.admin(.post, "/admin/revocations", token: admin, json: #"{"user_id":"\#(UUID())"}"#).status == .notFound)

                let list = try await client.admin(.get, "/admin/revocations", token: admin)
                #expect(list.status == .ok)
                let tokens = try #require(list.object["revoked_tokens"] as? [[String: Any]])
                #expect(tokens.contains { $0["jti"] as? String == jti && $0["expires_at"] is String })
                let sessions = try #require(list.object["revoked_sessions"] as? [[String: Any]])
                #expect(sessions.count == 5, "session, token, and the three live sessions the user revocation ended")
                #expect(sessions.contains { $0["session_id"] as? String == sid && $0["reason"] as? String == "revoked_by_admin" })

                let page = try await client.admin(.get, "/admin/revocations?limit=2", token: admin)
                let cursor = try #require(page.object["next_sessions_before"] as? String)
                let next = try await client.admin(.get, "/admin/revocations?limit=2&sessions_before=\(cursor)", token: admin)
                let firstPage = (page.object["revoked_sessions"] as? [[String: Any]] ?? []).compactMap { $0["session_id"] as? String }
                let secondPage = (next.object["revoked_sessions"] as? [[String: Any]] ?? []).compactMap { $0["session_id"] as? String }
                #expect(firstPage.count == 2 && secondPage.count == 2 && Set(firstPage).isDisjoint(with: secondPage))
                #expect(try await client.admin(.get, "/admin/revocations?limit=0", token: admin).status == .badRequest)
                #expect(try await client.admin(.get, "/admin/revocations?sessions_before=%%%", token: admin).status == .badRequest)
            }
        }
    }

    @Test func keysRotateThroughTheAdminAPI() async throws {
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let early = try await client.admin(.post, "/admin/keys/rotate", token: admin)
                #expect(early.status == .conflict, "the next key was published just now")
                let before = try await t.services.keys.keySet()
                let rotated = try await client.admin(.post, "/admin/keys/rotate?force=true", token: admin)
                #expect(rotated.status == .ok)
                #expect(rotated.object["current"] as? String == before.nextKid)
                #expect(rotated.object["next"] is String)
                #expect(try await t.services.verifier.verify(admin, audience: .any).sub.isEmpty == false, "tokens of the retired key stay valid")
                let rotations: [String] = try await t.database.column("SELECT detail->>'actor' FROM audit_events WHERE type = 'keys_rotated'")
                let adminID = try DecodedJWT(admin).claims["sub"] as? String
                #expect(rotations.count == 1 && rotations.first == adminID)
            }
        }
    }

    @Test func auditTrailIsNewestFirstFilterableAndFreeOfSecrets() async throws {
        let password = "kate's secret password"
        try await TestServices.with { t in
            let admin = try await t.adminToken()
            let secret = try await t.client("web")
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let created = try await client.admin(.post, "/admin/users", token: admin, json: #"{"username":"kate","password":"\#(password)"}"#)
                let id = try #require(created.object["id"] as? String)
                let login = try await t.login("kate", password: password, client: "web")
                _ = try? await t.login("kate", password: "wrong password here", client: "web")
                _ = try await t.services.grants.refresh(
                    client: try #require(try await t.services.clients.store.find(clientID: "web")?.client),
                    refreshToken: login.refreshToken!, scope: nil, origin: RequestOrigin())
                _ = try await client.admin(.post, "/admin/revocations", token: admin, json: #"{"user_id":"\#(id)"}"#)

                let all = try await client.admin(.get, "/admin/audit", token: admin)
                let events = try #require(all.object["events"] as? [[String: Any]])
                let ids = events.compactMap { $0["id"] as? Int }
                #expect(ids == ids.sorted(by: >), "newest first")
                let types = events.compactMap { $0["type"] as? String }
                for type in ["user_created", "login_succeeded", "login_failed", "token_refreshed", "user_tokens_revoked", "client_created"] {
                    #expect(types.contains(type), "\(type)")
                }
                let adminActions = events.filter { ["user_created", "user_tokens_revoked"].contains($0["type"] as? String) && $0["user_id"] as? String == id }
                let root = try #require(try await t.services.environment.users.store.find(username: Username("root")))
                #expect(adminActions.count == 2 && adminActions.allSatisfy { ($0["detail"] as? [String: String])?["actor"] == root.id.uuidString.lowercased() })

                let kates = try await client.admin(.get, "/admin/audit?user_id=\(id)&type=login_succeeded", token: admin)
                let filtered = try #require(kates.object["events"] as? [[String: Any]])
                #expect(filtered.count == 1 && filtered[0]["user_id"] as? String == id && filtered[0]["session_id"] is String)
                let paged = try await client.admin(.get, "/admin/audit?limit=2", token: admin)
                let before = try #require(paged.object["next_before"] as? Int)
                let rest = try await client.admin(.get, "/admin/audit?before=\(before)", token: admin)
                #expect(((rest.object["events"] as? [[String: Any]]) ?? []).allSatisfy { ($0["id"] as? Int ?? .max) < before })
                #expect(try await client.admin(.get, "/admin/audit?user_id=nope", token: admin).status == .badRequest)

                let dump: [String] = try await t.database.column("SELECT row_to_json(audit_events)::text FROM audit_events")
                for row in dump {
                    for forbidden in [password, secret!, login.accessToken, login.refreshToken!, admin, "correct horse battery"] {
                        #expect(!row.contains(forbidden))
                    }
                }
            }
        }
    }
}

@Suite("OpenAPI document", .timeLimit(.minutes(2)))
struct OpenAPIDocumentTests {
    @Test func adminListenerServesTheOpenAPIDocumentWithoutAToken() async throws {
        try await TestServices.with { t in
            let file = try String(contentsOfFile: TestDatabase.packageRoot + "/Sources/SignetHTTP/Resources/openapi.yaml", encoding: .utf8)
            try await Application(router: try buildAdminRouter(t.services)).test(.router) { client in
                let response = try await client.execute(uri: "/openapi.yaml", method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/yaml")
                #expect(String(buffer: response.body) == file)
                #expect(file.hasPrefix("openapi: 3.1") || file.contains("\nopenapi: 3.1"))
            }
            try await Application(router: try buildPublicRouter(t.services)).test(.router) { client in
                let response = try await client.execute(uri: "/openapi.yaml", method: .get)
                #expect(response.status == .notFound, "documentation of the admin API stays on the admin listener")
            }
        }
    }
}
