import Configuration
import Foundation
import Hummingbird
import HummingbirdTesting
import SignetCore
import SignetHTTP
import SignetTestSupport
import Testing

@Suite("Health endpoints", .timeLimit(.minutes(2)))
struct HealthTests {
    @Test func healthzAnswersOk() async throws {
        try await TestDatabase.withSchema { schema in
            let app = try await buildApplication(reader: try TestDatabase.reader(schema: schema))
            try await app.test(.router) { client in
                try await client.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
                    #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                }
            }
        }
    }

    @Test func headAnswersLikeGetWithoutTheBody() async throws {
        try await TestServices.with { t in
            let app = try await buildApplication(reader: t.reader)
            try await app.test(.router) { client in
                for path in ["/healthz", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/assets/signet.css"] {
                    let get = try await client.execute(uri: path, method: .get)
                    let head = try await client.execute(uri: path, method: .head)
                    #expect(head.status == .ok && head.body.readableBytes == 0, "\(path)")
                    #expect(head.headers[.contentType] == get.headers[.contentType] && head.headers[.eTag] == get.headers[.eTag], "\(path)")
                }
                #expect(try await client.execute(uri: "/oauth2/token", method: .head).status != .ok, "no HEAD where there is no GET")
                let etag = try #require(try await client.execute(uri: "/assets/signet.css", method: .get).headers[.eTag])
                for tags in [etag, "W/" + etag, "*", "\"other\", " + etag] {
                    #expect(try await client.execute(uri: "/assets/signet.css", method: .get, headers: [.ifNoneMatch: tags]).status == .notModified, "\(tags)")
                }
            }
        }
    }

    @Test func readyzIsOkOnceTheKeysAreLoadedWhileTheDatabaseAnswers() async throws {
        try await TestDatabase.withDatabase { db in
            let schema: [String] = try await db.column("SELECT current_schema()::text")
            let app = try await buildApplication(reader: try TestDatabase.reader(schema: schema[0]))
            try await app.test(.router) { client in
                // The key ring checks the master key and loads the keys as the node starts.
                var response = try await client.execute(uri: "/readyz", method: .get)
                for _ in 0..<100 where response.status != .ok {
                    try await Task.sleep(for: .milliseconds(50))
                    response = try await client.execute(uri: "/readyz", method: .get)
                }
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
        }
    }

    @Test func readyzIs503WithoutADatabaseWhileHealthzStaysOk() async throws {
        let reader = try TestDatabase.reader(schema: "public", overrides: [
            "database.url": "postgres://signet@127.0.0.1:1/signet",
            "database.connect_timeout_seconds": 1,
        ])
        let app = try await buildApplication(reader: reader)
        try await app.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body) == #"{"status":"unavailable"}"#)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func invalidSettingStopsTheBuild() async throws {
        let reader = try TestDatabase.reader(schema: "public", overrides: ["public.port": 99_999])
        await #expect(throws: SettingsError.self) { _ = try await buildApplication(reader: reader) }
    }
}
