import Foundation

/// The second-factor page of a browser sign-in: the cookie that finds its challenge, and what
/// the page shows — a code to type, or (enrolment) the new secret to scan first.
public struct SecondFactorStep: Sendable {
    /// The value of the `signet_mfa` cookie.
    public var cookie: String?
    public var challenge: MFAChallenge
    /// An enrolment's new secret, shown as a QR code and as text; nil when verifying.
    public var enrolmentSecret: [UInt8]?
}

extension BrowserSignIn {
    /// Starts a second-factor step for `user`: verification if they have TOTP, enrolment
    /// otherwise; `raising` is the live browser session a step-up raises.
    func startSecondFactor(
        user: User, generation: Int64?, hasTOTP: Bool, raising: UUID?, authTime: Date
    ) async throws -> SecondFactorStep {
        let pending = hasTOTP ? nil : try secondFactor.newPendingSecret(userID: user.id)
        let new = NewMFAChallenge(
            userID: user.id, generation: generation, purpose: hasTOTP ? .verify : .enrol, pendingSecretSealed: pending?.sealed,
            browserSessionID: raising, authTime: authTime)
        try await challenges.create(new)
        let challenge = MFAChallenge(
            id: new.id, user: user, generation: generation ?? 0, purpose: new.purpose, pendingSecretSealed: pending?.sealed,
            browserSessionID: raising, authTime: authTime)
        return SecondFactorStep(cookie: new.secret.value, challenge: challenge, enrolmentSecret: pending?.secret)
    }

    /// A step-up of a live one-factor `session` (``Step/secondFactor(_:)``).
    public func stepUp(_ session: BrowserSession) async throws -> SecondFactorStep {
        let hasTOTP = try await secondFactor.status(userID: session.user.id).totp
        return try await startSecondFactor(user: session.user, generation: nil, hasTOTP: hasTOTP, raising: session.id, authTime: session.authTime)
    }

    /// The outcome of the second-factor form.
    public enum SecondFactorOutcome: Sendable {
        /// Signed in with two factors: set `cookie` as the session cookie. `recoveryCodes`, when
        /// present, are new and must be shown once before going on.
        case signedIn(cookie: String, session: BrowserSession, recoveryCodes: [String]?)
        /// Wrong, reused or locked out: show the same step again.
        case refused(SecondFactorStep)
        /// No such step any more (expired, finished, or the account changed): sign in again.
        case expired
    }

    /// Checks the code typed on the second-factor page of the challenge behind `cookie`. The check
    /// is a login attempt like a password: one at a time per account, counted as a failure up
    /// front and refused while the account or address is locked; a success completes the login
    /// (clearing the count) and creates the browser session with `amr` `pwd`+`otp` and `acr` 2 —
    /// or, for a step-up, raises the existing session under a new cookie secret. `newRecoveryCodes`
    /// replaces the user's recovery codes after a successful verification.
    public func verifySecondFactor(
        cookie: String?, code: String, request: AuthorizationRequest, newRecoveryCodes: Bool = false, source: String,
        origin: RequestOrigin, previous: BrowserSession?
    ) async throws -> SecondFactorOutcome {
        guard let cookie, let secret = SecretToken(presented: cookie), let challenge = try await challenges.find(secret: secret)
        else { return .expired }
        let client = request.client
        let user = challenge.user
        let step = SecondFactorStep(cookie: nil, challenge: challenge, enrolmentSecret: try secondFactor.pendingSecret(of: challenge))
        let flow = ["flow": "browser"]
        let event = AuditEvent("mfa_verified", userID: user.id, clientID: client.clientID, remoteAddress: origin.remoteAddress, detail: flow)
        func refuse(_ reason: String) async throws -> SecondFactorOutcome {
            var failed = event
            failed.type = "mfa_failed"
            failed.detail["reason"] = reason
            try await AuditLog(database: sessions.database).record(failed)
            metrics.login("mfa_failed")
            return .refused(step)
        }
        return try await users.attemptQueue.run(account: user.username) {
            guard let attempt = try await users.attempts.begin(username: user.username, source: source, lockout: settings.lockout),
                  attempt.user.id == user.id, attempt.admitted
            else { return try await refuse("locked") }
            // Only a judged code counts: a request the server gives up on releases its reservation.
            return try await users.settling(attempt) {
                guard attempt.generation == challenge.generation, !attempt.user.disabled else { return .expired }
                var amr = ["pwd", "otp"], method = "totp"
                var codes: [String]?
                switch challenge.purpose {
                case .enrol:
                    guard let recovery = try await secondFactor.confirm(challenge, typed: code, origin: origin, clientID: client.clientID)
                    else { return try await refuse("wrong_code") }
                    codes = recovery
                    method = "enrolment"
                case .verify:
                    let check = try await secondFactor.check(code, userID: user.id, event: event)
                    if case .refused(let reason) = check { return try await refuse(reason) }
                    amr = check.amr
                    if case .recoveryCode = check { method = "recovery_code" }
                    if newRecoveryCodes {
                        codes = try await secondFactor.regenerateRecoveryCodes(userID: user.id, origin: origin, clientID: client.clientID)
                    }
                }
                // Only one of two racing submissions finishes the challenge.
                guard try await challenges.finish(id: challenge.id) else { return .expired }
                let raising = challenge.browserSessionID
                let new = NewBrowserSession(
                    authTime: raising == nil ? Date() : challenge.authTime, amr: amr, acr: "2",
                    absoluteLifetime: settings.browser.sessionAbsoluteSeconds, raising: raising)
                var verified = event
                verified.detail["method"] = method
                if raising != nil { verified.detail["step_up"] = "true" }
                guard try await users.complete(attempt, session: nil, browserSession: new, event: verified) else { return .expired }
                if raising == nil {
                    var succeeded = verified
                    succeeded.type = "login_succeeded"
                    succeeded.detail = flow.merging(["amr": amr.joined(separator: " ")]) { $1 }
                    try await AuditLog(database: sessions.database).record(succeeded)
                }
                metrics.login("mfa_success")
                let session = try await signedIn(user, new, client: client, origin: origin, previous: previous)
                return .signedIn(cookie: new.secret.value, session: session, recoveryCodes: codes)
            }
        }
    }
}
