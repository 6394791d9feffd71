import Foundation
import PostgresNIO
@testable import SignetCore
import SignetTestSupport
import Testing

/// A login is tied to the credential it verified: between the password check and the session
/// insert, a password change, disabling, revocation or deletion wins; and concurrent guesses are
/// held to the lockout threshold.
@Suite("Login integrity", .timeLimit(.minutes(2)))
struct LoginIntegrityTests {
    static func accounts(_ db: Database, queueLimit: Int = 16) throws -> UserAccounts {
        UserAccounts(
            store: UserStore(database: db),
            hasher: try PasswordHasher(parameters: TestDatabase.fastArgon2, threads: 2, queueLimit: queueLimit),
            audit: AuditLog(database: db),
            logger: db.logger)
    }

    /// Verifies the right password, runs `interfere` (what another request does meanwhile), then
    /// tries to complete the login with a session, as the token endpoint does.
    static func loginRacing(
        _ db: Database, _ users: UserAccounts, withSession: Bool = true, interfere: (User) async throws -> Void
    ) async throws -> Bool {
        guard case .authenticated(let attempt) = try await users.authenticate(
            username: "victim", password: "the old password", source: "192.0.2.1", lockout: UserAccounts.testLockout)
        else { throw TestFailure("the password did not verify") }
        try await interfere(attempt.user)
        let session = withSession
            ? NewSession(id: UUID(), clientID: "app", scope: "openid", authTime: Date(), absoluteLifetime: 3600) : nil
        return try await users.complete(attempt, session: session, event: AuditEvent("login_succeeded", clientID: "app"))
    }

    static func seed(_ db: Database) async throws -> UserAccounts {
        let users = try accounts(db)
        _ = try await users.create(.init(username: "victim", password: "the old password"))
        try await db.client.query(
            "INSERT INTO clients (client_id, token_endpoint_auth_method, grant_types) VALUES ('app', 'none', '{password}')",
            logger: db.logger)
        return users
    }

    @Test(arguments: [true, false])
    func aPasswordChangeBetweenCheckAndSessionWins(withSession: Bool) async throws {
        try await TestDatabase.withDatabase { db in
            let users = try await Self.seed(db)
            let completed = try await Self.loginRacing(db, users, withSession: withSession) { user in
                _ = try await users.update(id: user.id, .init(password: "the new password"), origin: .commandLine)
            }
            #expect(!completed)
            #expect(try await db.column("SELECT count(*)::int FROM sessions") == [0])
            let reasons: [String] = try await db.column("SELECT detail->>'reason' FROM audit_events WHERE type = 'login_failed'")
            #expect(reasons == ["superseded"])
        }
    }

    @Test func disablingAndReEnablingBetweenCheckAndSessionWins() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try await Self.seed(db)
            let completed = try await Self.loginRacing(db, users) { user in
                _ = try await users.update(id: user.id, .init(disabled: true), origin: .commandLine)
                _ = try await users.update(id: user.id, .init(disabled: false), origin: .commandLine)
            }
            #expect(!completed, "a disable in between must not be undone by the enable")
            #expect(try await db.column("SELECT count(*)::int FROM sessions") == [0])
        }
    }

    @Test func aUserRevocationBetweenCheckAndSessionWins() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try await Self.seed(db)
            let completed = try await Self.loginRacing(db, users) { user in
                _ = try await RevocationStore(database: db).revokeUser(id: user.id, reason: "revoked_by_admin", event: AuditEvent("user_revoked"))
            }
            #expect(!completed)
        }
    }

    @Test func aDeletionBetweenCheckAndSessionIsAPlainRefusal() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try await Self.seed(db)
            let completed = try await Self.loginRacing(db, users) { user in
                _ = try await users.delete(id: user.id, origin: .commandLine)
            }
            #expect(!completed, "no foreign-key error, just no login")
        }
    }

    @Test func aSessionCreatedBeforeAPasswordChangeIsDeadEvenIfNeverMarkedRevoked() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try await Self.seed(db)
            #expect(try await Self.loginRacing(db, users) { _ in })
            let sessions = SessionStore(database: db)
            let ids: [UUID] = try await db.column("SELECT id FROM sessions")
            #expect(try await sessions.current(sessionID: ids[0], counter: 0, idleLifetime: 3600) != nil)
            // The cut-off as a concurrent statement would leave it: generation moved, session row untouched.
            try await db.client.query("UPDATE users SET token_generation = token_generation + 1", logger: db.logger)
            #expect(try await db.column("SELECT count(*)::int FROM sessions WHERE revoked_at IS NULL") == [1])
            #expect(try await sessions.current(sessionID: ids[0], counter: 0, idleLifetime: 3600) == nil)
            let rotation = try await sessions.rotate(
                sessionID: ids[0], presentedCounter: 0, clientID: "app", idleLifetime: 3600, graceSeconds: 0, origin: RequestOrigin())
            #expect(rotation == .invalid("session has ended"))
        }
    }

    @Test func aUserDisabledInTheDatabaseCannotRefresh() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try await Self.seed(db)
            #expect(try await Self.loginRacing(db, users) { _ in })
            let ids: [UUID] = try await db.column("SELECT id FROM sessions")
            try await db.client.query("UPDATE users SET disabled = true", logger: db.logger)
            let rotation = try await SessionStore(database: db).rotate(
                sessionID: ids[0], presentedCounter: 0, clientID: "app", idleLifetime: 3600, graceSeconds: 0, origin: RequestOrigin())
            #expect(rotation == .invalid("session has ended"))
        }
    }

    @Test func aLockSetByAnotherAttemptRefusesEvenTheRightPassword() async throws {
        try await TestDatabase.withDatabase { db in
            let users = try await Self.seed(db)
            // A back-off long enough that it cannot run out on a slow machine before the completion.
            let lockout = Settings.Lockout(threshold: 5, accountThreshold: 20, baseSeconds: 600, maximumSeconds: 900)
            guard case .authenticated(let attempt) = try await users.authenticate(
                username: "victim", password: "the old password", source: "192.0.2.1", lockout: lockout)
            else { throw TestFailure("the password did not verify") }
            // Four more guesses from the same source reach the threshold while the first is in flight.
            for _ in 0..<4 { _ = try await users.login("victim", "a wrong guess", lockout: lockout) }
            let completed = try await users.complete(attempt, session: nil, event: AuditEvent("login_succeeded"))
            #expect(!completed)
        }
    }

    @Test func concurrentGuessesAreHeldToTheThreshold() async throws {
        try await TestDatabase.withDatabase(poolSize: 8) { db in
            let users = try Self.accounts(db, queueLimit: 64)
            _ = try await users.create(.init(username: "victim", password: "the old password"))
            let lockout = Settings.Lockout(threshold: 5, accountThreshold: 20, baseSeconds: 60, maximumSeconds: 900)
            let outcomes = try await withThrowingTaskGroup(of: TestLogin.self) { group in
                for index in 0..<40 {
                    group.addTask { try await users.login("victim", "guess \(index)", lockout: lockout) }
                }
                return try await group.reduce(into: [TestLogin]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == .rejected(.wrongPassword) }.count == lockout.threshold, "evaluated: at most the threshold")
            #expect(outcomes.filter { $0 == .rejected(.locked) }.count == 40 - lockout.threshold)
            #expect(try await db.column("SELECT failures FROM login_failures") == [lockout.threshold])
            #expect(try await users.login("victim", "the old password", lockout: lockout) == .rejected(.locked))
        }
    }

    /// The full login as the token endpoint runs it, without tokens: completes with no session.
    static func fullLogin(_ users: UserAccounts, _ password: String, lockout: Settings.Lockout) async throws -> User? {
        try await users.login(
            username: "victim", password: password, source: "192.0.2.1", lockout: lockout,
            failureEvent: AuditEvent("login_failed"), metrics: .none
        ) { attempt in
            try await users.complete(attempt, session: nil, event: AuditEvent("login_succeeded")) ? attempt.user : nil
        }
    }

    /// Accounts whose hasher has one thread, held (with `queued` more places) by work that waits
    /// until ``free()``: logins behind it wait, or are turned away once its queue is full.
    struct BusyHashing {
        let users: UserAccounts
        let hasher: PasswordHasher
        private let gate = DispatchSemaphore(value: 0)
        private let occupying: [Task<Void, any Error>]

        init(_ db: Database, queueLimit: Int, queued: Int) async throws {
            _ = try await LoginIntegrityTests.seed(db)
            let hasher = try PasswordHasher(parameters: TestDatabase.fastArgon2, threads: 1, queueLimit: queueLimit)
            let gate = gate
            occupying = (0...queued).map { _ in Task { try await hasher.run { gate.wait() } } }
            try await Self.waitForLoad(hasher, queued + 1)
            self.hasher = hasher
            users = UserAccounts(store: UserStore(database: db), hasher: hasher, audit: AuditLog(database: db), logger: db.logger)
        }

        static func waitForLoad(_ hasher: PasswordHasher, _ load: Int) async throws {
            while hasher.load < load { try await Task.sleep(for: .milliseconds(2)) }
        }

        /// Lets the held work finish; the pool then skips any cancelled work queued behind it.
        func free() async throws {
            for task in occupying { gate.signal(); _ = try await task.value }
        }
    }

    @Test func loginsTurnedAwayByAFullHashingPoolDoNotCountAsFailures() async throws {
        try await TestDatabase.withDatabase { db in
            let busy = try await BusyHashing(db, queueLimit: 1, queued: 1)
            let lockout = Settings.Lockout(threshold: 2, accountThreshold: 3, baseSeconds: 600, maximumSeconds: 900)
            for _ in 0..<4 {
                await #expect(throws: SignetError.self) { try await Self.fullLogin(busy.users, "the old password", lockout: lockout) }
            }
            #expect(try await db.column("SELECT failures FROM login_failures") == [0])
            #expect(try await db.column("SELECT failed_login_count FROM users WHERE username = 'victim'") == [0])
            try await busy.free()
            #expect(try await Self.fullLogin(busy.users, "the old password", lockout: lockout)?.username == "victim", "not locked out")
        }
    }

    @Test func aLoginCancelledBeforeItsPasswordIsHashedDoesNotCountAsAFailure() async throws {
        try await TestDatabase.withDatabase { db in
            let busy = try await BusyHashing(db, queueLimit: 8, queued: 0)
            let lockout = Settings.Lockout(threshold: 1, accountThreshold: 1, baseSeconds: 600, maximumSeconds: 900)
            // Waits behind the busy thread, as a login at its request deadline does; then is cancelled.
            let login = Task { try await Self.fullLogin(busy.users, "the old password", lockout: lockout) }
            try await BusyHashing.waitForLoad(busy.hasher, 2)
            login.cancel()
            try await busy.free()
            await #expect(throws: CancellationError.self) { try await login.value }
            #expect(try await db.column("SELECT failures FROM login_failures") == [0])
            #expect(try await Self.fullLogin(busy.users, "the old password", lockout: lockout)?.username == "victim", "not locked out")
            // A judged wrong password still counts, and at this threshold locks at once.
            #expect(try await Self.fullLogin(busy.users, "a wrong guess", lockout: lockout) == nil)
            #expect(try await Self.fullLogin(busy.users, "the old password", lockout: lockout) == nil, "locked")
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
