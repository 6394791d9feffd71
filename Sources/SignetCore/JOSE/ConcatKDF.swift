import Crypto
import Foundation

/// The Concat KDF of NIST SP 800-56A §5.8.1 with SHA-256, as JWE's ECDH-ES uses it (RFC 7518
/// §4.6.2): `OtherInfo` = AlgorithmID ‖ PartyUInfo ‖ PartyVInfo (each a 32-bit big-endian length
/// and the bytes) ‖ SuppPubInfo (the key length in bits, 32-bit big-endian) ‖ SuppPrivInfo (empty).
/// swift-crypto has HKDF but not this one.
public enum ConcatKDF {
    public static func deriveKey(
        sharedSecret: [UInt8], keyBits: Int, algorithmID: String, partyUInfo: [UInt8] = [], partyVInfo: [UInt8] = []
    ) -> [UInt8] {
        var otherInfo = lengthPrefixed(Array(algorithmID.utf8)) + lengthPrefixed(partyUInfo) + lengthPrefixed(partyVInfo)
        otherInfo += bigEndian(UInt32(keyBits))
        var output: [UInt8] = []
        var counter: UInt32 = 1
        while output.count * 8 < keyBits {
            var hash = SHA256()
            hash.update(data: bigEndian(counter))
            hash.update(data: sharedSecret)
            hash.update(data: otherInfo)
            output += Array(hash.finalize())
            counter += 1
        }
        return Array(output.prefix(keyBits / 8))
    }

    private static func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
        bigEndian(UInt32(bytes.count)) + bytes
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
