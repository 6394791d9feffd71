import Crypto
import Foundation

/// Second factors (TOTP and recovery codes): who must have one, checking a typed code (a TOTP
/// step is good once — replay is refused — and a recovery code once), enrolment, regeneration
/// and reset. Secrets are sealed under a key derived from the master key and never leave.
public struct SecondFactor: Sendable {
    let store: SecondFactorStore
    let box: SecretBox
    let recoveryKey: SymmetricKey
    /// Roles whose users must have a second factor (`mfa.required_roles`).
    public let requiredRoles: Set<String>
    /// The issuer shown by authenticator apps (the host of Signet's issuer URL).
    public let issuerLabel: String

    public init(database: Database, masterKey: MasterKey, settings: Settings) {
        store = SecondFactorStore(database: database)
        box = SecretBox(masterKey: masterKey, purpose: "totp-secret-seal/v1")
        recoveryKey = masterKey.derive("recovery-code/v1")
        requiredRoles = Set(settings.mfaRequiredRoles)
        let issuer = settings.issuer
        issuerLabel = issuer.host.map { host in issuer.port.map { "\(host):\($0)" } ?? host } ?? settings.issuerString
    }

    /// Whether signing `user` in to `client` needs a second factor: the client requires one, one
    /// of the user's roles does (`mfa.required_roles`), or the request `demanded` it (`acr_values=2`).
    public func isRequired(user: User, client: Client?, demanded: Bool = false) -> Bool {
        demanded || client?.requireMFA == true || roleRequires(user.roles)
    }

    /// Whether a user holding `roles` must have a second factor whatever the client.
    public func roleRequires(_ roles: [String]) -> Bool {
        !requiredRoles.isDisjoint(with: roles)
    }

    public func status(userID: UUID) async throws -> SecondFactorStore.Status {
        try await store.status(userID: userID)
    }

    /// The outcome of a typed second factor.
    public enum Check: Sendable, Equatable {
        /// A current TOTP code, now spent.
        case otp
        /// A recovery code, now spent; how many remain.
        case recoveryCode(left: Int)
        /// Wrong, already used, or the user has no second factor.
        case refused(reason: String)

        public var passed: Bool {
            if case .refused = self { false } else { true }
        }

        /// RFC 8176 methods of a sign-in that passed with this check.
        public var amr: [String] {
            switch self {
            case .otp: ["pwd", "otp"]
            case .recoveryCode: ["pwd", "mfa"]
            case .refused: ["pwd"]
            }
        }
    }

    /// Checks `typed` — a 6-digit TOTP code, or else a recovery code — for `userID` at `now` and
    /// spends it. A recovery code is audited (`recovery_code_used`) in the statement that spends it.
    public func check(_ typed: String, userID: UUID, event: AuditEvent, now: Date = Date()) async throws -> Check {
        let text = typed.filter { $0 != " " }
        if text.count == 6, text.allSatisfy(\.isASCIIDigit) {
            guard let (sealed, _) = try await store.sealedSecret(userID: userID) else { return .refused(reason: "no_totp") }
            let totp = TOTP(secret: try open(sealed, userID: userID))
            guard let step = totp.matchingStep(text, at: now) else { return .refused(reason: "wrong_code") }
            return try await store.spend(step: step, userID: userID) ? .otp : .refused(reason: "replayed_code")
        }
        guard RecoveryCode.normalized(typed) != nil else { return .refused(reason: "malformed_code") }
        var used = event
        used.type = "recovery_code_used"
        guard let left = try await store.useRecoveryCode(
            userID: userID, hash: RecoveryCode.hash(typed, userID: userID, key: recoveryKey), event: used)
        else { return .refused(reason: "wrong_recovery_code") }
        return .recoveryCode(left: left)
    }

    // MARK: enrolment

    /// A new secret for `userID`, sealed for an enrolment challenge.
    func newPendingSecret(userID: UUID) throws -> (secret: [UInt8], sealed: Data) {
        let secret = TOTP.newSecret()
        return (secret, try box.seal(Data(secret), context: Self.context(userID)))
    }

    /// The secret of an enrolment challenge (to show its QR code again after a wrong code).
    public func pendingSecret(of challenge: MFAChallenge) throws -> [UInt8]? {
        try challenge.pendingSecretSealed.map { try open($0, userID: challenge.user.id) }
    }

    /// Confirms an enrolment: if `typed` is a current code of the challenge's secret, stores the
    /// secret (that step spent), makes recovery codes and audits `mfa_enrolled`. The recovery
    /// codes to show once, or nil if the code is wrong or the user enrolled meanwhile.
    func confirm(_ challenge: MFAChallenge, typed: String, origin: RequestOrigin, clientID: String?, now: Date = Date()) async throws -> [String]? {
        guard let sealed = challenge.pendingSecretSealed else { return nil }
        let totp = TOTP(secret: try open(sealed, userID: challenge.user.id))
        let text = typed.filter { $0 != " " }
        guard text.count == 6, let step = totp.matchingStep(text, at: now) else { return nil }
        return try await enrol(userID: challenge.user.id, sealed: sealed, step: step, origin: origin, clientID: clientID)
    }

    /// Stores an already-confirmed secret for `userID` with new recovery codes (returned).
    private func enrol(userID: UUID, sealed: Data, step: Int64, origin: RequestOrigin, clientID: String?) async throws -> [String]? {
        let codes = RecoveryCode.generate()
        let stored = try await store.enrol(
            userID: userID, sealed: sealed, step: step, recoveryHashes: codes.map { RecoveryCode.hash($0, userID: userID, key: recoveryKey) },
            event: origin.event("mfa_enrolled", userID: userID, clientID: clientID, detail: ["method": "totp"]))
        return stored ? codes : nil
    }

    /// Enrols `userID` without a browser (the command line): a new secret, taken as confirmed,
    /// and recovery codes. The secret and codes are for the caller to hand over once; nil if the
    /// user already has TOTP.
    public func enrolDirectly(userID: UUID, origin: RequestOrigin) async throws -> (secret: [UInt8], recoveryCodes: [String])? {
        let (secret, sealed) = try newPendingSecret(userID: userID)
        let step = TOTP(secret: secret).step(at: Date()) - 2
        guard let codes = try await enrol(userID: userID, sealed: sealed, step: step, origin: origin, clientID: nil) else { return nil }
        return (secret, codes)
    }

    /// New recovery codes for `userID`, replacing the old ones (`recovery_codes_regenerated`).
    public func regenerateRecoveryCodes(userID: UUID, origin: RequestOrigin, clientID: String?) async throws -> [String] {
        let codes = RecoveryCode.generate()
        try await store.replaceRecoveryCodes(
            userID: userID, hashes: codes.map { RecoveryCode.hash($0, userID: userID, key: recoveryKey) },
            event: origin.event("recovery_codes_regenerated", userID: userID, clientID: clientID))
        return codes
    }

    /// Removes the user's second factor and ends their sessions (`mfa_reset`). Whether the user exists.
    public func reset(userID: UUID, origin: RequestOrigin) async throws -> Bool {
        try await store.reset(userID: userID, event: origin.event("mfa_reset", userID: userID))
    }

    private func open(_ sealed: Data, userID: UUID) throws -> [UInt8] {
        Array(try box.open(sealed, context: Self.context(userID)))
    }

    private static func context(_ userID: UUID) -> String {
        "totp:" + userID.uuidString.lowercased()
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
