import HTTPTypes
import SignetCore

/// A page of the browser sign-in, with what its template shows. Everything here is rendered
/// through `{{…}}`, which HTML-escapes, so names, hints and messages are shown as text.
enum Page: Sendable {
    /// A hidden form field carrying the authorization request across the form post.
    struct Field: Sendable {
        var name: String
        var value: String
    }

    case login(clientName: String, username: String?, error: String?, hidden: [Field], csrfToken: String)
    case consent(clientName: String, username: String, scopes: [String], hidden: [Field], csrfToken: String)
    /// Type a code from the authenticator app (or a recovery code).
    case secondFactor(clientName: String, username: String, error: String?, hidden: [Field], csrfToken: String)
    /// Set up an authenticator app: scan `qrSVG` (or type `secret`), then type a code from it.
    case enrolment(clientName: String, username: String, qrSVG: String, secret: String, error: String?, hidden: [Field], csrfToken: String)
    /// New recovery codes, shown once, and a button to go on to the application.
    case recoveryCodes(clientName: String, codes: [String], hidden: [Field], csrfToken: String)
    case logout(username: String?, hidden: [Field], csrfToken: String)
    case signedOut
    case error(SignetError)

    var template: String {
        switch self {
        case .login: "login"
        case .consent: "consent"
        case .secondFactor: "second_factor"
        case .enrolment: "enrolment"
        case .recoveryCodes: "recovery_codes"
        case .logout: "logout"
        case .signedOut: "signed_out"
        case .error: "error"
        }
    }

    var status: HTTPResponse.Status {
        if case .error(let error) = self { return error.status }
        return .ok
    }

    /// The values the template reads.
    var context: [String: Any] {
        switch self {
        case .login(let clientName, let username, let error, let hidden, let csrfToken):
            var context: [String: Any] = ["client_name": clientName, "hidden": hidden.map(\.context), "csrf_token": csrfToken]
            if let username { context["username"] = username }
            if let error { context["error"] = error }
            return context
        case .consent(let clientName, let username, let scopes, let hidden, let csrfToken):
            return [
                "client_name": clientName, "username": username, "hidden": hidden.map(\.context), "csrf_token": csrfToken,
                "scopes": scopes.map { ["name": $0, "description": Self.describe(scope: $0)] },
            ]
        case .secondFactor(let clientName, let username, let error, let hidden, let csrfToken):
            var context: [String: Any] = [
                "client_name": clientName, "username": username, "hidden": hidden.map(\.context), "csrf_token": csrfToken,
            ]
            if let error { context["error"] = error }
            return context
        case .enrolment(let clientName, let username, let qrSVG, let secret, let error, let hidden, let csrfToken):
            var context: [String: Any] = [
                "client_name": clientName, "username": username, "qr_svg": qrSVG, "secret": secret, "hidden": hidden.map(\.context),
                "csrf_token": csrfToken,
            ]
            if let error { context["error"] = error }
            return context
        case .recoveryCodes(let clientName, let codes, let hidden, let csrfToken):
            return ["client_name": clientName, "codes": codes, "hidden": hidden.map(\.context), "csrf_token": csrfToken]
        case .logout(let username, let hidden, let csrfToken):
            var context: [String: Any] = ["hidden": hidden.map(\.context), "csrf_token": csrfToken]
            if let username { context["username"] = username }
            return context
        case .signedOut:
            return [:]
        case .error(let error):
            return ["heading": Self.heading(for: error), "message": error.description, "code": error.code.rawValue]
        }
    }

    /// What a scope lets the application do, in words.
    static func describe(scope: String) -> String {
        switch scope {
        case "openid": "know who you are (your account id)"
        case "profile": "see your username"
        case "email": "see your email address"
        case "offline_access": "stay signed in when you are away"
        default: "use this permission on your behalf"
        }
    }

    static func heading(for error: SignetError) -> String {
        switch error.kind {
        case .rateLimited: "Too many attempts"
        case .unavailable: "Please try again shortly"
        case .forbidden: "Not allowed"
        default: "This sign-in request cannot be used"
        }
    }
}

extension Page.Field {
    var context: [String: String] { ["name": name, "value": value] }
}
