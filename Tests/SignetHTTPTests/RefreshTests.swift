import Configuration
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

@Suite("Refresh token rotation", .timeLimit(.minutes(2)))
struct RefreshTests {
    static let strict: [String: ConfigValue] = ["refresh.reuse_grace_seconds": 0]

    @Test func refreshRotatesAndKeepsTheSession() async throws {
        try await TestServices.with(overrides: Self.strict) { t in
            try await t.user("alice", roles: ["user"])
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let login = try await client.login("alice", client: "web", secret: secret)
                let response = try await client.refresh(login.refresh_token!, client: "web", secret: secret)
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "no-store")
                let rotated = try response.decode(TokenBody.self)
                #expect(rotated.refresh_token != login.refresh_token)
                #expect(rotated.scope == login.scope)
                let jwks = try await client.jwks()
                let before = try await verifyWithJWKS(login.access_token, jwks: jwks)
                let after = try await verifyWithJWKS(rotated.access_token, jwks: jwks)
                #expect(after.sid == before.sid)
                #expect(after.jti != before.jti)
                #expect(after.auth_time == before.auth_time, "refresh does not re-authenticate")
                let again = try await client.refresh(rotated.refresh_token!, client: "web", secret: secret)
                #expect(again.status == .ok)
                let counters: [Int64] = try await t.database.column("SELECT refresh_counter FROM sessions")
                #expect(counters == [2])
            }
        }
    }

    @Test func reusedRefreshTokenRevokesTheWholeSession() async throws {
        try await TestServices.with(overrides: Self.strict) { t in
            try await t.user("bob")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let login = try await client.login("bob", client: "web", secret: secret)
                let first = try await client.refresh(login.refresh_token!, client: "web", secret: secret).decode(TokenBody.self)
                let second = try await client.refresh(first.refresh_token!, client: "web", secret: secret).decode(TokenBody.self)

                let reuse = try await client.refresh(login.refresh_token!, client: "web", secret: secret)
                #expect(reuse.status == .badRequest)
                #expect(try reuse.decode(ErrorBody.self).error == "invalid_grant")

                let newest = try await client.refresh(second.refresh_token!, client: "web", secret: secret)
                #expect(newest.status == .badRequest, "the newest token of the family dies too")
                let reasons: [String?] = try await t.database.column("SELECT revoked_reason FROM sessions")
                #expect(reasons == ["refresh_token_reused"])
                let events: [String] = try await t.database.column("SELECT type FROM audit_events WHERE type = 'refresh_token_reused'")
                #expect(events.count == 1)
            }
        }
    }

    @Test func sixteenConcurrentRefreshesStrictGiveExactlyOneSuccess() async throws {
        try await TestServices.with(overrides: Self.strict) { t in
            try await t.user("carol")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.ahc()) { client in
                let login = try await client.login("carol", client: "web", secret: secret)
                let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            let response = try await client.refresh(login.refresh_token!, client: "web", secret: secret)
                            return (response.status, response.status == .ok ? try response.decode(TokenBody.self).refresh_token : nil)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses.allSatisfy { $0.0.code < 500 })
                #expect(statuses.filter { $0.0 == .ok }.count == 1)
                #expect(statuses.filter { $0.0 == .badRequest }.count == 15)
                let counters: [Int64] = try await t.database.column("SELECT refresh_counter FROM sessions")
                #expect(counters == [1], "exactly one rotation happened")
            }
        }
    }

    @Test func sixteenConcurrentRefreshesWithGraceAllGetTheSameSuccessor() async throws {
        try await TestServices.with(overrides: ["refresh.reuse_grace_seconds": 10]) { t in
            try await t.user("dave")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.ahc()) { client in
                let login = try await client.login("dave", client: "web", secret: secret)
                let results = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            let response = try await client.refresh(login.refresh_token!, client: "web", secret: secret)
                            return (response.status, response.status == .ok ? try response.decode(TokenBody.self).refresh_token : nil)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.allSatisfy { $0.0 == .ok })
                let successors = Set(results.compactMap(\.1))
                #expect(successors.count == 1, "never two different live successors")
                let counters: [Int64] = try await t.database.column("SELECT refresh_counter FROM sessions")
                #expect(counters == [1])
                let next = try await client.refresh(try #require(successors.first), client: "web", secret: secret)
                #expect(next.status == .ok, "the one successor is live")
            }
        }
    }

    @Test func graceWindowEdges() async throws {
        try await TestServices.with(overrides: ["refresh.reuse_grace_seconds": 10]) { t in
            try await t.user("erin")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                // Inside the window the parent yields the same successor, with a fresh access token.
                let login = try await client.login("erin", client: "web", secret: secret)
                let child = try await client.refresh(login.refresh_token!, client: "web", secret: secret).decode(TokenBody.self)
                let replay = try await client.refresh(login.refresh_token!, client: "web", secret: secret)
                #expect(replay.status == .ok)
                let replayed = try replay.decode(TokenBody.self)
                #expect(replayed.refresh_token == child.refresh_token)
                #expect(replayed.access_token != child.access_token)

                // The grandparent is reuse even inside the window.
                let grandchild = try await client.refresh(child.refresh_token!, client: "web", secret: secret).decode(TokenBody.self)
                let old = try await client.refresh(login.refresh_token!, client: "web", secret: secret)
                #expect(old.status == .badRequest)
                #expect(try await client.refresh(grandchild.refresh_token!, client: "web", secret: secret).status == .badRequest)

                // After the window the parent is reuse too.
                let second = try await client.login("erin", client: "web", secret: secret)
                let secondChild = try await client.refresh(second.refresh_token!, client: "web", secret: secret).decode(TokenBody.self)
                try await t.database.client.query(
                    "UPDATE sessions SET last_refreshed_at = now() - interval '11 seconds' WHERE revoked_at IS NULL", logger: t.database.logger)
                let late = try await client.refresh(second.refresh_token!, client: "web", secret: secret)
                #expect(late.status == .badRequest)
                #expect(try await client.refresh(secondChild.refresh_token!, client: "web", secret: secret).status == .badRequest)
                let revoked: [Int] = try await t.database.column("SELECT count(*)::int FROM sessions WHERE revoked_at IS NOT NULL")
                #expect(revoked == [2])
            }
        }
    }

    @Test func refreshIsRefusedOnceTheUserIsDisabledOrChangesPassword() async throws {
        try await TestServices.with { t in
            try await t.user("frank")
            try await t.user("gina")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let frank = try await client.login("frank", client: "web", secret: secret)
                let gina = try await client.login("gina", client: "web", secret: secret)
                try await t.services.environment.users.setDisabled(username: "frank", true)
                try await t.services.environment.users.setPassword(username: "gina", password: "a brand new password")
                for token in [frank.refresh_token!, gina.refresh_token!] {
                    let response = try await client.refresh(token, client: "web", secret: secret)
                    #expect(response.status == .badRequest)
                    #expect(try response.decode(ErrorBody.self).error == "invalid_grant")
                }
                try await t.services.environment.users.setDisabled(username: "frank", false)
                #expect(try await client.refresh(frank.refresh_token!, client: "web", secret: secret).status == .badRequest,
                        "re-enabling does not revive sessions ended by disabling")
                let fresh = try await client.login("gina", password: "a brand new password", client: "web", secret: secret)
                #expect(try await client.refresh(fresh.refresh_token!, client: "web", secret: secret).status == .ok)
            }
        }
    }

    @Test func scopeMayOnlyNarrowOnRefresh() async throws {
        try await TestServices.with { t in
            try await t.user("hank")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let login = try await client.login("hank", client: "web", secret: secret, scope: "openid api")
                let wider = try await client.token(
                    [("grant_type", "refresh_token"), ("refresh_token", login.refresh_token!), ("scope", "openid api profile")],
                    basic: ("web", secret))
                #expect(wider.status == .badRequest)
                #expect(try wider.decode(ErrorBody.self).error == "invalid_scope")
                let narrower = try await client.token(
                    [("grant_type", "refresh_token"), ("refresh_token", login.refresh_token!), ("scope", "api")],
                    basic: ("web", secret))
                #expect(narrower.status == .ok)
                let body = try narrower.decode(TokenBody.self)
                #expect(body.scope == "api")
                let full = try await client.refresh(body.refresh_token!, client: "web", secret: secret).decode(TokenBody.self)
                #expect(full.scope == "openid api", "the session keeps its scope")
            }
        }
    }

    @Test func refreshTokenIsBoundToItsClient() async throws {
        try await TestServices.with { t in
            try await t.user("ivy")
            let web = try await t.client("web")
            let other = try await t.client("other")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let login = try await client.login("ivy", client: "web", secret: web)
                let stolen = try await client.refresh(login.refresh_token!, client: "other", secret: other)
                #expect(stolen.status == .badRequest)
                #expect(try stolen.decode(ErrorBody.self).error == "invalid_grant")
                #expect(try await client.refresh(login.refresh_token!, client: "web", secret: web).status == .ok,
                        "a foreign client's attempt does not spend the token")
            }
        }
    }

    @Test func absoluteAndIdleLifetimesEndSessions() async throws {
        try await TestServices.with(overrides: ["refresh.idle_lifetime_seconds": 3600]) { t in
            try await t.user("jack")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let expired = try await client.login("jack", client: "web", secret: secret)
                try await t.database.client.query(
                    "UPDATE sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second'",
                    logger: t.database.logger)
                #expect(try await client.refresh(expired.refresh_token!, client: "web", secret: secret).status == .badRequest)

                let idle = try await client.login("jack", client: "web", secret: secret)
                try await t.database.client.query(
                    "UPDATE sessions SET last_used_at = now() - interval '3601 seconds' WHERE expires_at > now()",
                    logger: t.database.logger)
                #expect(try await client.refresh(idle.refresh_token!, client: "web", secret: secret).status == .badRequest)

                let live = try await client.login("jack", client: "web", secret: secret)
                #expect(try await client.refresh(live.refresh_token!, client: "web", secret: secret).status == .ok)
                let expiries: [Double] = try await t.database.column(
                    "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM sessions WHERE refresh_counter = 1")
                #expect(expiries == [2_592_000], "absolute lifetime defaults to 30 days")
            }
        }
    }

    @Test func tamperedOrForeignRefreshTokensAreRefused() async throws {
        try await TestServices.with { t in
            try await t.user("kim")
            let secret = try await t.client("web")
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                let login = try await client.login("kim", client: "web", secret: secret)
                let sessionIDs: [UUID] = try await t.database.column("SELECT id FROM sessions")
                let counters: [Int64] = try await t.database.column("SELECT refresh_counter FROM sessions")
                // Everything a database dump holds, signed with any key but the master key, is useless.
                let forged = RefreshToken(sessionID: sessionIDs[0], counter: counters[0]).encoded(with: .random())
                #expect(try await client.refresh(forged, client: "web", secret: secret).status == .badRequest)
                var bytes = try #require(Data(base64URLEncoded: login.refresh_token!))
                bytes[20] ^= 0x01
                #expect(try await client.refresh(bytes.base64URLEncodedString(), client: "web", secret: secret).status == .badRequest)
                #expect(try await client.refresh(login.refresh_token!, client: "web", secret: secret).status == .ok,
                        "failed forgeries do not revoke the session")
            }
        }
    }
}
