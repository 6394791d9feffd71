import Foundation

/// The rules for a registered redirect URI (RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7.3):
/// absolute, no fragment, `https` — or `http` only for a loopback host. Requests are matched
/// against the registered strings byte for byte, so nothing here normalises.
public enum RedirectURI {
    public static let maximumBytes = 2048
    public static let maximumCount = 32

    /// Refuses the list (naming `field`) unless every URI follows the rules.
    public static func validate(_ uris: [String], field: String) throws(SignetError) {
        guard uris.count <= maximumCount else {
            throw SignetError.invalid(field: field, reason: "may list at most \(maximumCount) URIs")
        }
        for uri in uris {
            if let problem = problem(uri) { throw SignetError.invalid(field: field, reason: "\"\(uri.prefix(100))\" \(problem)") }
        }
    }

    /// Why `uri` cannot be registered, or `nil` when it can.
    static func problem(_ uri: String) -> String? {
        guard !uri.isEmpty, uri.utf8.count <= maximumBytes else { return "must be 1-\(maximumBytes) bytes" }
        guard !uri.unicodeScalars.contains(where: { !$0.isASCII || $0.value <= 0x20 || $0.value == 0x7F }) else {
            return "must be ASCII without spaces or control characters"
        }
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty
        else { return "must be an absolute URI" }
        guard components.fragment == nil, !uri.contains("#") else { return "must not have a fragment" }
        guard components.user == nil, components.password == nil else { return "must not carry credentials" }
        switch scheme {
        case "https": return nil
        case "http": return isLoopback(host) ? nil : "must use https (http only for loopback hosts)"
        default: return "must use https (http only for loopback hosts)"
        }
    }

    /// 127.0.0.0/8, `[::1]` or `localhost`.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" { return true }
        guard let address = IPAddress(bare) else { return false }
        return address.isLoopback
    }
}
