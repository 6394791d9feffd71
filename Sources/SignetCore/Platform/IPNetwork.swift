#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
