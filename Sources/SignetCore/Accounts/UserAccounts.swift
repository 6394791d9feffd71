import Foundation
import Logging

/// Account use cases shared by the CLI, the admin API and the login path: validates input,
/// hashes on the ``PasswordHasher`` pool, and keeps hashes current with the configured parameters.
public struct UserAccounts: Sendable {
    public let store: UserStore
    public let hasher: PasswordHasher
    let attempts: LoginAttemptStore
    /// Password attempts per account, one at a time on this node.
    public let attemptQueue: AccountAttemptQueue
    let audit: AuditLog
    let logger: Logger

    public init(store: UserStore, hasher: PasswordHasher, audit: AuditLog, logger: Logger, attemptsWaitingPerAccount: Int = 8) {
        self.attemptQueue = AccountAttemptQueue(waitingLimit: attemptsWaitingPerAccount)
        self.store = store
        self.hasher = hasher
        self.attempts = LoginAttemptStore(database: store.database)
        self.audit = audit
        self.logger = logger
    }

    /// Input for a new account, as received (not yet validated).
    public struct NewUser: Sendable {
        public var username: String
        public var password: String
        public var email: String?
        public var roles: [String]

        public init(username: String, password: String, email: String? = nil, roles: [String] = []) {
            self.username = username
            self.password = password
            self.email = email
            self.roles = roles
        }
    }

    public enum AuthenticationResult: Sendable, Equatable {
        /// The password matched; ``complete(_:session:event:)`` turns the attempt into a login.
        case authenticated(LoginAttempt)
        /// Callers answer every reason alike; the reason is for the audit trail.
        case rejected(Rejection)
    }

    public enum Rejection: String, Sendable, Equatable {
        case unknownUser = "unknown_user"
        case wrongPassword = "wrong_password"
        case disabled
        case locked
        /// The password matched, but the account changed (password, roles, disabling, revocation)
        /// or was locked by another attempt before the login could be completed.
        case superseded
    }

    public func create(_ input: NewUser, origin: RequestOrigin = .commandLine) async throws -> User {
        let username = try Username(input.username)
        try PasswordPolicy.validate(input.password)
        let email = try Self.validEmail(input.email)
        let roles = try Self.validRoles(input.roles)
        let hash = try await hasher.hash(input.password)
        let user = try await store.create(username: username, email: email, passwordHash: hash, roles: roles)
        try await audit.record(origin.event("user_created", userID: user.id, detail: ["roles": roles.joined(separator: " ")]))
        return user
    }

    /// A partial update from the admin API; absent members stay as they are.
    public struct Change: Sendable {
        public var password: String?
        public var roles: [String]?
        public var disabled: Bool?

        public init(password: String? = nil, roles: [String]? = nil, disabled: Bool? = nil) {
            self.password = password
            self.roles = roles
            self.disabled = disabled
        }
    }

    /// Applies `change` to the user `id` (validating everything first) and returns the result.
    /// A new password or disabling ends every session and token issued before now.
    public func update(id: UUID, _ change: Change, origin: RequestOrigin) async throws -> User {
        if let password = change.password { try PasswordPolicy.validate(password) }
        let roles = try change.roles.map(Self.validRoles)
        guard try await store.find(id: id) != nil else { throw SignetError.userNotFound }
        if let password = change.password {
            try await store.setPassword(id: id, passwordHash: try await hasher.hash(password))
            try await audit.record(origin.event("user_password_changed", userID: id))
        }
        if let roles {
            try await store.setRoles(id: id, roles)
            try await audit.record(origin.event("user_roles_changed", userID: id, detail: ["roles": roles.joined(separator: " ")]))
        }
        if let disabled = change.disabled {
            try await store.setDisabled(id: id, disabled)
            try await audit.record(origin.event(disabled ? "user_disabled" : "user_enabled", userID: id))
        }
        guard let user = try await store.find(id: id) else { throw SignetError.userNotFound }
        return user
    }

    /// Accounts ordered by username, `limit` at a time after `after`.
    public func list(after: String? = nil, limit: Int = 100) async throws -> [User] {
        try await store.list(after: after, limit: limit)
    }

    /// The account with this id, if any.
    public func find(id: UUID) async throws -> User? {
        try await store.find(id: id)
    }

    /// Deletes the user and with it every session. Whether it existed.
    public func delete(id: UUID, origin: RequestOrigin) async throws -> Bool {
        guard try await store.delete(id: id) else { return false }
        try await audit.record(origin.event("user_deleted", userID: id))
        return true
    }

    /// Checks a login. Every attempt costs the same: one statement that reserves it (counting it
    /// as a failure up front, see ``LoginAttemptStore``), one Argon2id verification (against a
    /// dummy hash for unknown users) and, when rejected, one statement that records `failureEvent`.
    /// A match is not yet a login: the caller completes it with ``complete(_:session:event:)``.
    public func authenticate(
        username rawUsername: String, password: String, source: String, lockout: Settings.Lockout,
        failureEvent: AuditEvent = AuditEvent("login_failed")
    ) async throws -> AuthenticationResult {
        let username = try? Username(rawUsername)
        let attempt = try await username.asyncMap {
            try await attempts.begin(username: $0.value, source: source, lockout: lockout)
        } ?? nil
        let result = try await settling(attempt) { try await check(password, attempt) }
        if case .rejected(let reason) = result {
            var event = failureEvent
            event.userID = attempt?.user.id
            event.detail["reason"] = reason.rawValue
            // What was typed is kept only when it names an account: a password typed into the
            // username box must not stay in the audit trail.
            if let attempt { event.detail["username"] = attempt.user.username }
            try await audit.record(event)
        }
        return result
    }

    /// One whole password login, the same for the password grant and the browser's login page:
    /// on `username`'s account once no other login runs there on this node (``AccountAttemptQueue``),
    /// checks the password (recording `failureEvent` when refused), then hands the verified attempt
    /// to `finish`, which issues what the caller needs and completes the attempt with
    /// ``complete(_:session:browserSession:event:)`` — answering `nil` when the account changed in
    /// between, or throwing an `invalid_grant` refusal of its own (a second factor missing or wrong),
    /// which leaves the attempt counted as failed. `nil` means refused, whatever the reason; a saturated hashing pool is
    /// ``SignetError/temporarilyUnavailable`` at once. Every outcome is counted in `metrics`.
    public func login<T: Sendable>(
        username: String, password: String, source: String, lockout: Settings.Lockout, failureEvent: AuditEvent,
        metrics: SignetMetrics, finish: (LoginAttempt) async throws -> T?
    ) async throws -> T? {
        do {
            return try await oneAtATime(username: username) {
                // A request that reached its deadline while waiting its turn reserves nothing.
                try Task.checkCancellation()
                let result = try await authenticate(
                    username: username, password: password, source: source, lockout: lockout, failureEvent: failureEvent)
                guard case .authenticated(let attempt) = result else {
                    if case .rejected(let reason) = result { metrics.login(reason.rawValue) }
                    return nil
                }
                let outcome: T?
                do {
                    outcome = try await settling(attempt) { try await finish(attempt) }
                } catch let refusal as SignetError where refusal.code == .invalidGrant {
                    // The password matched but the second factor is missing or wrong.
                    metrics.login("second_factor")
                    throw refusal
                }
                guard let finished = outcome else {
                    metrics.login(Rejection.superseded.rawValue)
                    return nil
                }
                metrics.login("success")
                return finished
            }
        } catch let error as SignetError where error == .hashingOverloaded {
            metrics.login("shed")
            throw SignetError(.temporarilyUnavailable, "too many logins in progress; retry shortly", retryAfter: 1)
        }
    }

    /// Runs `body`, the judging of a reserved attempt. If it fails for the server's own reasons —
    /// cancelled at the request's deadline, the hashing pool full or stopped, the database
    /// unavailable — the attempt was never judged, so its reservation is released: an overloaded
    /// server must not lock its users out. A refusal (4xx) leaves the attempt counted as failed.
    func settling<T: Sendable>(_ attempt: LoginAttempt?, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            if let attempt, attempt.admitted, !Self.isRefusal(error) {
                // In a task of its own: the caller may have been cancelled, the release must still run.
                let attempts = self.attempts, logger = self.logger
                await Task {
                    do { try await attempts.release(attempt) } catch {
                        logger.warning("could not release an unjudged login attempt", metadata: [
                            "user_id": "\(attempt.user.id)", "reason": "\(Database.describe(error) ?? "\(type(of: error))")"])
                    }
                }.value
            }
            throw error
        }
    }

    private static func isRefusal(_ error: any Error) -> Bool {
        guard let error = error as? SignetError else { return false }
        return error.kind != .unavailable
    }

    private func oneAtATime<T: Sendable>(username: String, _ body: () async throws -> T) async throws -> T {
        guard let account = try? Username(username) else { return try await body() }
        return try await attemptQueue.run(account: account.value, body)
    }

    /// Turns a verified attempt into a login: clears its failure counts and creates `session` (if
    /// any), only if the account is still exactly as verified. Whether it did; when it did not,
    /// the attempt is recorded as `superseded` and callers refuse it like invalid credentials.
    public func complete(
        _ attempt: LoginAttempt, session: NewSession?, browserSession: NewBrowserSession? = nil, event: AuditEvent
    ) async throws -> Bool {
        if try await attempts.complete(attempt, session: session, browserSession: browserSession, event: event) { return true }
        var detail = event.detail
        detail["reason"] = Rejection.superseded.rawValue
        detail["username"] = attempt.user.username
        let failure = AuditEvent(
            "login_failed", userID: attempt.user.id, clientID: event.clientID, remoteAddress: event.remoteAddress, detail: detail)
        try await audit.record(failure)
        return false
    }

    private func check(_ password: String, _ attempt: LoginAttempt?) async throws -> AuthenticationResult {
        let plausible = PasswordPolicy.isPlausible(password)
        let verdict = try await hasher.verify(plausible ? password : "-", against: plausible ? attempt?.passwordHash : nil)
        guard var attempt else { return .rejected(.unknownUser) }
        // Refused while locked whatever the password (the hash was still spent, for equal cost).
        if !attempt.admitted { return .rejected(.locked) }
        guard case .match(let rehash) = verdict else { return .rejected(.wrongPassword) }
        if attempt.user.disabled { return .rejected(.disabled) }
        if let rehash {
            try await attempts.upgradeHash(of: &attempt, to: rehash)
            logger.info("upgraded password hash parameters", metadata: ["user_id": "\(attempt.user.id)"])
        }
        return .authenticated(attempt)
    }

    public func setPassword(username rawUsername: String, password: String, origin: RequestOrigin = .commandLine) async throws {
        try PasswordPolicy.validate(password)
        _ = try await update(id: try await require(rawUsername).id, Change(password: password), origin: origin)
    }

    public func setDisabled(username rawUsername: String, _ disabled: Bool, origin: RequestOrigin = .commandLine) async throws {
        _ = try await update(id: try await require(rawUsername).id, Change(disabled: disabled), origin: origin)
    }

    private func require(_ rawUsername: String) async throws -> User {
        guard let user = try await store.find(username: try Username(rawUsername)) else {
            throw SignetError.userNotFound
        }
        return user
    }

    static func validEmail(_ email: String?) throws(SignetError) -> String? {
        guard let email else { return nil }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), email.utf8.count <= 320,
              !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control })
        else { throw SignetError.invalid(field: "email", reason: "must be an address like name@example.com") }
        return email
    }

    static func validRoles(_ roles: [String]) throws(SignetError) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for role in roles {
            guard !role.isEmpty, role.utf8.count <= 64,
                  role.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.:".unicodeScalars.contains($0)) })
            else { throw SignetError.invalid(field: "roles", reason: "role \"\(role)\" must be 1-64 characters of A-Z a-z 0-9 _ - . :") }
            if seen.insert(role).inserted { result.append(role) }
        }
        return result
    }
}

extension Optional {
    /// `map` for an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
