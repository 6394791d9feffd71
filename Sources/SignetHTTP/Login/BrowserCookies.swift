import Foundation
import Hummingbird
import SignetCore

/// The cookies of the browser sign-in. All hold random values only (the database keeps a hash of
/// the session's and the second-factor step's), all are `HttpOnly` and `SameSite=Lax`, and
/// `Secure` whenever the issuer is https.
struct BrowserCookies: Sendable {
    /// The signed-in browser (single sign-on); lives as long as the browser session.
    static let session = "signet_session"
    /// The short-lived value that the forms' CSRF tokens are bound to.
    static let flow = "signet_flow"
    static let flowLifetimeSeconds = 1800
    /// A sign-in waiting for its second factor (minutes at most).
    static let secondFactor = "signet_mfa"

    let secure: Bool

    init(settings: Settings) {
        secure = settings.issuer.scheme == "https"
    }

    func sessionCookie(_ value: String) -> Cookie {
        Cookie(name: Self.session, value: value, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }

    func clearedSessionCookie() -> Cookie {
        Cookie(name: Self.session, value: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0, path: "/", secure: secure,
               httpOnly: true, sameSite: .lax)
    }

    func flowCookie(_ value: String) -> Cookie {
        Cookie(name: Self.flow, value: value, maxAge: Self.flowLifetimeSeconds, path: "/oauth2", secure: secure, httpOnly: true,
               sameSite: .lax)
    }

    func secondFactorCookie(_ value: String) -> Cookie {
        Cookie(name: Self.secondFactor, value: value, maxAge: MFAChallengeStore.lifetimeSeconds, path: "/oauth2", secure: secure,
               httpOnly: true, sameSite: .lax)
    }

    func clearedSecondFactorCookie() -> Cookie {
        Cookie(name: Self.secondFactor, value: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0, path: "/oauth2", secure: secure,
               httpOnly: true, sameSite: .lax)
    }

    static func value(_ name: String, in request: Request) -> String? {
        request.cookies[name]?.value
    }
}
