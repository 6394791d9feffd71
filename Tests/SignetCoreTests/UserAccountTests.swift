import Foundation
import PostgresNIO
import SignetCore
import SignetTestSupport
import Testing

@Suite("User accounts", .timeLimit(.minutes(2)))
struct UserAccountTests {
    static func accounts(_ db: Database, parameters: Argon2Parameters = TestDatabase.fastArgon2) throws -> UserAccounts {
        UserAccounts(
            store: UserStore(database: db),
            hasher: try PasswordHasher(parameters: parameters, threads: 2, queueLimit: 16),
            audit: AuditLog(database: db),
            logger: db.logger)
    }

    @Test func createdUserGetsADefaultArgon2idHash() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db, parameters: .recommended)
            let user = try await users.create(.init(username: "Alice", password: "correct horse battery", email: "alice@example.com", roles: ["admin", "admin"]))
            #expect(user.username == "alice")
            #expect(user.roles == ["admin"])
            #expect(user.email == "alice@example.com")
            #expect(!user.disabled)
            let hashes: [String] = try await db.column("SELECT password_hash FROM users WHERE id = \(user.id)")
            #expect(hashes.count == 1)
            #expect(hashes[0].hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        }
    }

    @Test func usernamesCollideAfterNormalization() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            _ = try await users.create(.init(username: "Alice", password: "password-one"))
            await #expect(throws: SignetError.usernameTaken) {
                try await users.create(.init(username: "ＡＬＩＣＥ", password: "password-two"))
            }
            await #expect(throws: SignetError.usernameTaken) {
                try await users.create(.init(username: "alice", password: "password-two"))
            }
            let count: [Int] = try await db.column("SELECT count(*)::int FROM users")
            #expect(count == [1])
        }
    }

    @Test func rightPasswordAuthenticatesAndWrongOneDoesNot() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            let created = try await users.create(.init(username: "bob", password: "hunter2hunter2"))
            #expect(try await users.login("BOB", "hunter2hunter2") == .authenticated(created))
            #expect(try await users.login("bob", "hunter2hunter3") == .rejected(.wrongPassword))
            #expect(try await users.login("nobody", "hunter2hunter2") == .rejected(.unknownUser))
            #expect(try await users.login("", "hunter2hunter2") == .rejected(.unknownUser))
            #expect(try await users.login("bob", String(repeating: "x", count: 5000)) == .rejected(.wrongPassword))
        }
    }

    @Test func changedParametersRehashOnNextSuccessfulLogin() async throws {
        try await TestDatabase.withDatabase { db in
            let old = try Self.accounts(db, parameters: .init(memoryKiB: 512, iterations: 1, parallelism: 1))
            let user = try await old.create(.init(username: "carol", password: "carol's password"))
            let newParameters = Argon2Parameters(memoryKiB: 1024, iterations: 2, parallelism: 1)
            let upgraded = try Self.accounts(db, parameters: newParameters)

            #expect(try await upgraded.login("carol", "wrong password").isRejected)
            let unchanged: [String] = try await db.column("SELECT password_hash FROM users WHERE id = \(user.id)")
            #expect(Argon2id.parameters(of: unchanged[0]) == .init(memoryKiB: 512, iterations: 1, parallelism: 1))

            #expect(try await upgraded.login("carol", "carol's password") == .authenticated(user))
            let rehashed: [String] = try await db.column("SELECT password_hash FROM users WHERE id = \(user.id)")
            #expect(Argon2id.parameters(of: rehashed[0]) == newParameters)
            #expect(try await upgraded.login("carol", "carol's password") == .authenticated(user))
            let validAfter: [Date?] = try await db.column("SELECT tokens_valid_after FROM users WHERE id = \(user.id)")
            #expect(validAfter == [nil], "a rehash is not a password change")
        }
    }

    @Test func disabledUserIsRejectedUntilEnabled() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            _ = try await users.create(.init(username: "dave", password: "dave's password"))
            try await users.setDisabled(username: "Dave", true)
            #expect(try await users.login("dave", "dave's password") == .rejected(.disabled))
            let validAfter: [Date?] = try await db.column("SELECT tokens_valid_after FROM users")
            #expect(validAfter.first??.timeIntervalSinceNow ?? -100 > -60, "disabling ends earlier tokens")
            try await users.setDisabled(username: "dave", false)
            guard case .authenticated(let user) = try await users.login("dave", "dave's password") else {
                Issue.record("enabled user should authenticate")
                return
            }
            #expect(!user.disabled)
        }
    }

    @Test func passwordChangeReplacesTheOldPasswordAndEndsTokens() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            _ = try await users.create(.init(username: "erin", password: "first password"))
            try await users.setPassword(username: "erin", password: "second password")
            #expect(try await users.login("erin", "first password").isRejected)
            guard case .authenticated = try await users.login("erin", "second password") else {
                Issue.record("new password should work")
                return
            }
            let validAfter: [Date?] = try await db.column("SELECT tokens_valid_after FROM users")
            #expect(validAfter.count == 1 && validAfter[0] != nil)
            await #expect(throws: SignetError.userNotFound) {
                try await users.setPassword(username: "nobody", password: "some password")
            }
        }
    }

    @Test(arguments: [
        ("", "good password", "username"),
        (String(repeating: "a", count: 257), "good password", "username"),
        ("bad\u{7}name", "good password", "username"),
        ("nul\u{0}name", "good password", "username"),
        ("   ", "good password", "username"),
        ("frank", "short", "password"),
        ("frank", String(repeating: "p", count: 1025), "password"),
        ("frank", "pass\u{0}word-long", "password"),
        ("frank", "pass\u{1b}word-long", "password"),
    ])
    func invalidInputIsRejectedWithTheField(username: String, password: String, field: String) async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            do {
                _ = try await users.create(.init(username: username, password: password))
                Issue.record("expected a validation error for \(field)")
            } catch let error as SignetError {
                #expect(error.field == field)
            }
            let count: [Int] = try await db.column("SELECT count(*)::int FROM users")
            #expect(count == [0])
        }
    }

    @Test func invalidEmailAndRolesAreRejected() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            await #expect(throws: SignetError.invalid(field: "email", reason: "must be an address like name@example.com")) {
                try await users.create(.init(username: "gina", password: "gina's password", email: "not an email"))
            }
            await #expect(throws: SignetError.self) {
                try await users.create(.init(username: "gina", password: "gina's password", roles: ["bad role"]))
            }
        }
    }

    @Test func repeatedFailuresLockTheSourceWithGrowingBackOffUntilASuccess() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            // A back-off of a minute, so that a slow machine cannot let the first lock expire before it is tested.
            let lockout = Settings.Lockout(threshold: 5, accountThreshold: 20, baseSeconds: 60, maximumSeconds: 900)
            let user = try await users.create(.init(username: "mallory", password: "the right password"))
            for _ in 0..<4 { #expect(try await users.login("mallory", "a wrong password", lockout: lockout) == .rejected(.wrongPassword)) }
            #expect(try await users.login("mallory", "the right password", lockout: lockout) == .authenticated(user), "below the threshold")
            let reset: [Int] = try await db.column("SELECT count(*)::int FROM login_failures")
            #expect(reset == [0], "a success clears the source's count")

            for _ in 0..<5 { _ = try await users.login("mallory", "a wrong password", lockout: lockout) }
            #expect(try await users.login("mallory", "the right password", lockout: lockout) == .rejected(.locked))
            let firstLock: [Double] = try await db.column("SELECT extract(epoch FROM locked_until - updated_at)::float8 FROM login_failures")
            #expect(firstLock == [60])
            try await db.client.query("UPDATE login_failures SET locked_until = now() - interval '1 second'", logger: db.logger)
            _ = try await users.login("mallory", "a wrong password", lockout: lockout)
            let secondLock: [Double] = try await db.column("SELECT extract(epoch FROM locked_until - updated_at)::float8 FROM login_failures")
            #expect(secondLock == [120], "each further failure doubles the back-off")

            try await db.client.query("UPDATE login_failures SET locked_until = now() - interval '1 second'", logger: db.logger)
            #expect(try await users.login("mallory", "the right password", lockout: lockout) == .authenticated(user), "the lock expires")
            let counts: [Int] = try await db.column("SELECT failed_login_count FROM users")
            #expect(counts == [0])
            let reasons: [String] = try await db.column(
                "SELECT detail->>'reason' FROM audit_events WHERE type = 'login_failed' ORDER BY id")
            #expect(reasons.filter { $0 == "locked" }.count == 1 && reasons.filter { $0 == "wrong_password" }.count == 10)
        }
    }

    @Test func failuresDuringALockNeitherCountNorExtendIt() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            _ = try await users.create(.init(username: "nina", password: "the right password"))
            for _ in 0..<5 { _ = try await users.login("nina", "a wrong password") }
            try await db.client.query("UPDATE login_failures SET locked_until = now() + interval '1 hour'", logger: db.logger)
            let before: [Date] = try await db.column("SELECT locked_until FROM login_failures")
            for _ in 0..<5 { #expect(try await users.login("nina", "a wrong password").isRejected) }
            let after: [Date] = try await db.column("SELECT locked_until FROM login_failures")
            let failures: [Int] = try await db.column("SELECT failures FROM login_failures")
            #expect(after == before, "the lock is not extended")
            #expect(failures == [5], "refused attempts are not evaluated, so not counted")
        }
    }

    @Test func anAttackFromOneAddressDoesNotLockTheOwnerOutElsewhere() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            let owner = try await users.create(.init(username: "olga", password: "the right password"))
            let lockout = Settings.Lockout(threshold: 5, accountThreshold: 20, baseSeconds: 60, maximumSeconds: 900)
            for attacker in ["198.51.100.7", "198.51.100.8", "2001:db8:1:2::/64"] {
                for _ in 0..<5 { _ = try await users.login("olga", "a wrong password", from: attacker, lockout: lockout) }
                #expect(try await users.login("olga", "the right password", from: attacker, lockout: lockout) == .rejected(.locked))
            }
            #expect(try await users.login("olga", "the right password", from: "203.0.113.9", lockout: lockout) == .authenticated(owner))
        }
    }

    @Test func manySourcesTogetherLockTheAccountAtTheLooserCeiling() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            _ = try await users.create(.init(username: "pete", password: "the right password"))
            let lockout = Settings.Lockout(threshold: 5, accountThreshold: 20, baseSeconds: 60, maximumSeconds: 900)
            for index in 0..<19 { _ = try await users.login("pete", "a wrong password", from: "198.51.100.\(index)", lockout: lockout) }
            let unlocked: [Date?] = try await db.column("SELECT locked_until FROM users")
            #expect(unlocked == [nil], "below the account's ceiling")
            _ = try await users.login("pete", "a wrong password", from: "198.51.100.19", lockout: lockout)
            #expect(try await users.login("pete", "the right password", from: "203.0.113.9", lockout: lockout) == .rejected(.locked))
            let lock: [Double] = try await db.column("SELECT extract(epoch FROM locked_until - last_failed_login_at)::float8 FROM users")
            #expect(lock == [60])
        }
    }

    @Test func backOffIsCappedAndSurvivesAFlood() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            _ = try await users.create(.init(username: "target", password: "the right password"))
            try await db.client.query("UPDATE users SET failed_login_count = 100000", logger: db.logger)
            #expect(try await users.login("target", "a wrong password") == .rejected(.wrongPassword))
            let lock: [Double] = try await db.column("SELECT extract(epoch FROM locked_until - last_failed_login_at)::float8 FROM users")
            #expect(lock == [900])
        }
    }

    @Test func listIsOrderedAndPaged() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try Self.accounts(db)
            for name in ["zoe", "adam", "mia"] { _ = try await users.create(.init(username: name, password: "password \(name)")) }
            #expect(try await users.store.list().map(\.username) == ["adam", "mia", "zoe"])
            #expect(try await users.store.list(after: "adam", limit: 1).map(\.username) == ["mia"])
        }
    }
}

@Suite("Usernames", .timeLimit(.minutes(2)))
struct UsernameTests {
    @Test func normalizationFoldsCaseAndCompatibilityForms() throws {
        #expect(try Username("ＡＬＩＣＥ").value == "alice")
        #expect(try Username("Alice").value == "alice")
        #expect(try Username("ﬁnn").value == "finn", "NFKC expands the ligature")
        #expect(try Username("Åsa") == Username("A\u{30A}SA"), "composed and decomposed forms are one name")
    }

    @Test func lengthIsCountedInBytesAfterNormalization() throws {
        #expect(throws: SignetError.self) { try Username(String(repeating: "é", count: 129)) }
        #expect(try Username(String(repeating: "é", count: 128)).value.utf8.count == 256)
    }
}

/// What a login at the account level came to, for assertions: the attempt is completed (as the
/// token endpoint does) when the password matched.
enum TestLogin: Equatable {
    case authenticated(User)
    case rejected(UserAccounts.Rejection)

    var isRejected: Bool {
        if case .rejected = self { return true }
        return false
    }
}

extension UserAccounts {
    static let testLockout = Settings.Lockout(threshold: 5, accountThreshold: 20, baseSeconds: 1, maximumSeconds: 900)

    func login(
        _ username: String, _ password: String, from source: String = "192.0.2.1", lockout: Settings.Lockout = testLockout
    ) async throws -> TestLogin {
        switch try await authenticate(username: username, password: password, source: source, lockout: lockout) {
        case .rejected(let reason):
            return .rejected(reason)
        case .authenticated(let attempt):
            let completed = try await complete(attempt, session: nil, event: AuditEvent("login_succeeded", userID: attempt.user.id))
            return completed ? .authenticated(attempt.user) : .rejected(.superseded)
        }
    }
}
