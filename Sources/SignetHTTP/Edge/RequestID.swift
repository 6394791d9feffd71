import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SignetCore
import Synchronization

/// The id of the request being served, for every log line written while serving it.
public enum RequestID {
    @TaskLocal public static var current: String?

    /// Adds `request_id` to the metadata of every logger (install with `LoggingSystem.bootstrap`).
    public static let metadataProvider = Logger.MetadataProvider {
        current.map { ["request_id": .string($0)] } ?? [:]
    }

    /// An incoming `X-Request-Id` if it is a plausible id, otherwise a new one: a random prefix
    /// chosen at start-up and a counter, unique within the process and cheap to make.
    static func choose(_ incoming: String?) -> String {
        if let incoming, (1...64).contains(incoming.utf8.count),
           incoming.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E })
        {
            return incoming
        }
        var next = UInt64(truncatingIfNeeded: counter.add(1, ordering: .relaxed).newValue) & 0xFFFF_FFFF_FFFF
        // Written in place: 12 hex digits of the prefix, a hyphen, 12 of the counter.
        return String(unsafeUninitializedCapacity: prefix.count + 12) { buffer in
            _ = buffer.initialize(from: prefix)
            for index in stride(from: prefix.count + 11, through: prefix.count, by: -1) {
                buffer[index] = hexDigits[Int(next & 0xF)]
                next >>= 4
            }
            return prefix.count + 12
        }
    }

    private static let prefix: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        let random: UInt64 = generator.next() & 0xFFFF_FFFF_FFFF
        return Array((String(random, radix: 16).leftPadded(to: 12) + "-").utf8)
    }()

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static let counter = Atomic<Int>(0)
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}
