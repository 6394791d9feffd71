#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as its bytes. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the
/// IPv4 address they carry, so a dual-stack listener's peers match IPv4 networks.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Parses the textual forms `inet_pton` accepts (dotted quad; RFC 4291 IPv6 without zone).
    public init?(_ text: some StringProtocol) {
        let text = String(text)
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let raw = withUnsafeBytes(of: &v6) { Array($0) }
        bytes = raw[0..<10].allSatisfy { $0 == 0 } && raw[10] == 0xff && raw[11] == 0xff ? Array(raw[12...]) : raw
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var isIPv4: Bool { bytes.count == 4 }

    /// The canonical text (`inet_ntop`).
    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        var copy = bytes
        let family = isIPv4 ? AF_INET : AF_INET6
        guard copy.withUnsafeMutableBytes({ inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }) != nil
        else { return "invalid" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The key per-address limits count under: the address itself for IPv4, its /64 for IPv6
    /// (one subscriber usually holds a whole /64, so single IPv6 addresses cost an attacker nothing).
    public var limitKey: String {
        isIPv4 ? description : IPNetwork(address: self, prefixLength: 64).description
    }
}

/// A CIDR block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a single-host block.
/// Parsing is strict: host bits must be zero, so a typo cannot silently widen a network.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init(address: IPAddress, prefixLength: Int) {
        self.prefixLength = prefixLength
        self.address = IPAddress(bytes: Self.masked(address.bytes, prefixLength))
    }

    /// Why a text is not a network, for the one-line error naming it.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let text: String
        public let reason: String
        public var description: String { "\"\(text)\" is not a CIDR network: \(reason)" }
    }

    public init(parsing text: some StringProtocol) throws(ParseError) {
        let text = String(text)
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { throw ParseError(text: text, reason: "not an IPv4 or IPv6 address") }
        let width = address.bytes.count * 8
        var length = width
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber),
                  parts[1].count <= 3, let value = Int(parts[1]), value <= width
            else { throw ParseError(text: text, reason: "the prefix length must be 0...\(width)") }
            length = value
        }
        guard Self.masked(address.bytes, length) == address.bytes else {
            throw ParseError(text: text, reason: "host bits are set (did you mean \(IPNetwork(address: address, prefixLength: length))?)")
        }
        self.init(address: address, prefixLength: length)
    }

    /// Parses a comma-separated list (`none` or empty for no network).
    public static func list(_ text: String) throws(ParseError) -> [IPNetwork] {
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty, trimmed != "none" else { return [] }
        var networks: [IPNetwork] = []
        for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            networks.append(try IPNetwork(parsing: String(item).trimmingSpaces))
        }
        return networks
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        candidate.bytes.count == address.bytes.count && Self.masked(candidate.bytes, prefixLength) == address.bytes
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let keep = max(0, min(8, length - index * 8))
            return keep == 8 ? byte : byte & ~(UInt8(0xff) >> keep)
        }
    }
}

extension Sequence<IPNetwork> {
    /// Whether any of the networks holds `address`.
    public func containsAddress(_ address: IPAddress) -> Bool {
        contains { $0.contains(address) }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
