import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SignetCore

/// Cross-site request forgery protection of the sign-in forms: a synchronizer token that is an
/// HMAC (under a key derived from the master key) of the browser's random flow cookie, so a
/// form posted from elsewhere, without that cookie or with another, is refused; plus the
/// browser's own word on where the form came from: `Origin` must be the issuer's — except
/// `null`, which browsers send for same-origin posts from a `no-referrer` page — and
/// `Sec-Fetch-Site`, when sent, must be `same-origin`.
struct CSRFGuard: Sendable {
    let key: SymmetricKey
    let origin: String

    init(masterKey: MasterKey, settings: Settings) {
        key = masterKey.derive("csrf/v1")
        var components = URLComponents(url: settings.issuer, resolvingAgainstBaseURL: false)
        components?.path = ""
        components?.query = nil
        origin = components?.string ?? settings.issuerString
    }

    /// The flow cookie value to use (the browser's, or a new one) and the form token bound to it.
    func token(flowCookie: String?) -> (flow: String, token: String, isNew: Bool) {
        if let flowCookie, SecretToken(presented: flowCookie) != nil {
            return (flowCookie, token(for: flowCookie), false)
        }
        let flow = SecretToken().value
        return (flow, token(for: flow), true)
    }

    private func token(for flow: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(flow.utf8), using: key)).base64URLEncodedString()
    }

    /// Refuses (403) a form post whose token does not match its flow cookie or whose `Origin` is
    /// another site's.
    func check(_ request: Request, token presented: String?) throws(SignetError) {
        if let origin = request.headers[.origin], origin != "null", origin != self.origin {
            throw SignetError(.accessDenied, "this form was posted from another site", kind: .forbidden)
        }
        if let site = request.headers[.secFetchSite], site != "same-origin" {
            throw SignetError(.accessDenied, "this form was posted from another site", kind: .forbidden)
        }
        guard let flow = BrowserCookies.value(BrowserCookies.flow, in: request), SecretToken(presented: flow) != nil,
              let presented, constantTimeEqual(Array(presented.utf8), Array(token(for: flow).utf8))
        else {
            throw SignetError(
                .accessDenied, "this form has expired or did not come from this site; go back to the application and try again",
                kind: .forbidden)
        }
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
