import Foundation
import SignetCore
import SignetTestSupport
import Testing

/// The grants are one list (``GrantType``); the copies that cannot be derived from it — the SQL
/// CHECK on `clients.grant_types` and openapi.yaml's `GrantType` schema — are held to it here.
@Suite("Grant list", .timeLimit(.minutes(2)))
struct GrantListTests {
    static let names = Set(GrantType.allCases.map(\.rawValue))

    @Test func theDatabaseAcceptsExactlyTheGrantsOfTheList() async throws {
        try await TestDatabase.withDatabase { db in
            let definitions: [String] = try await db.column(
                """
                SELECT pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conname = 'clients_grant_types_known' AND conrelid = 'clients'::regclass
                """)
            let quoted = try #require(definitions.first)
            let inCheck = Set(quoted.matches(of: /'([a-z_]+)'/).map { String($0.output.1) })
            #expect(inCheck == Self.names, "\(quoted)")
        }
    }

    @Test func theOpenAPIDocumentListsExactlyTheGrantsOfTheList() throws {
        let file = try String(contentsOfFile: TestDatabase.packageRoot + "/Sources/SignetHTTP/Resources/openapi.yaml", encoding: .utf8)
        let schema = try #require(file.firstRange(of: "\n    GrantType:\n"), "openapi.yaml has a GrantType schema")
        let rest = file[schema.upperBound...]
        let line = try #require(rest.split(separator: "\n").first { $0.contains("enum:") })
        let listed = Set(line.split(separator: "[").last!.split(separator: "]").first!.split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        })
        #expect(listed == Self.names)
    }

    @Test func messagesNameEveryGrant() {
        #expect(GrantType.names == "password, refresh_token, client_credentials, authorization_code")
    }
}
