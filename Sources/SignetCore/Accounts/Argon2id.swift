import CArgon2
import Foundation

/// Thin, synchronous binding of libargon2's Argon2id (version 0x13). Every call blocks its thread
/// for the full hashing time: run it through ``PasswordHasher``, never on an event loop.
public enum Argon2id {
    public static let saltLength = 16
    public static let tagLength = 32

    public struct Failure: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { "argon2: " + String(cString: argon2_error_message(code)) }
    }

    /// The raw tag of RFC 9106 §3.1, with optional secret and associated data.
    public static func derive(
        password: [UInt8], salt: [UInt8], secret: [UInt8] = [], associatedData: [UInt8] = [],
        parameters: Argon2Parameters, tagLength: Int = tagLength
    ) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: tagLength)
        var password = password, salt = salt, secret = secret, associatedData = associatedData
        let code = out.withUnsafeMutableBufferPointer { out in
            password.withUnsafeMutableBufferPointer { pwd in
                salt.withUnsafeMutableBufferPointer { salt in
                    secret.withUnsafeMutableBufferPointer { secret in
                        associatedData.withUnsafeMutableBufferPointer { ad in
                            var context = argon2_context(
                                out: out.baseAddress, outlen: UInt32(out.count),
                                pwd: pwd.baseAddress, pwdlen: UInt32(pwd.count),
                                salt: salt.baseAddress, saltlen: UInt32(salt.count),
                                secret: secret.baseAddress, secretlen: UInt32(secret.count),
                                ad: ad.baseAddress, adlen: UInt32(ad.count),
                                t_cost: UInt32(parameters.iterations), m_cost: UInt32(parameters.memoryKiB),
                                lanes: UInt32(parameters.parallelism), threads: UInt32(parameters.parallelism),
                                version: UInt32(ARGON2_VERSION_13.rawValue),
                                allocate_cbk: nil, free_cbk: nil, flags: 0)
                            return argon2_ctx(&context, Argon2_id)
                        }
                    }
                }
            }
        }
        guard code == ARGON2_OK.rawValue else { throw Failure(code: code) }
        return out
    }

    /// A PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash` for `password` under a fresh random salt.
    public static func hash(password: String, parameters: Argon2Parameters) throws -> String {
        var salt = [UInt8](repeating: 0, count: saltLength)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = generator.next() }
        let t = UInt32(parameters.iterations), m = UInt32(parameters.memoryKiB), p = UInt32(parameters.parallelism)
        let length = argon2_encodedlen(t, m, p, UInt32(saltLength), UInt32(tagLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let bytes = Array(password.utf8)
        let code = argon2id_hash_encoded(
            t, m, p, bytes, bytes.count, salt, salt.count, tagLength, &encoded, encoded.count)
        guard code == ARGON2_OK.rawValue else { throw Failure(code: code) }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `password` matches the PHC string `encoded` (constant-time comparison inside libargon2).
    /// A malformed or non-Argon2id `encoded` is simply a mismatch.
    public static func verify(password: String, encoded: String) -> Bool {
        guard parameters(of: encoded) != nil else { return false }
        let bytes = Array(password.utf8)
        return argon2id_verify(encoded, bytes, bytes.count) == ARGON2_OK.rawValue
    }

    /// The cost parameters recorded in an Argon2id PHC string, or `nil` when it is not one.
    public static func parameters(of encoded: String) -> Argon2Parameters? {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0].isEmpty, fields[1] == "argon2id", fields[2] == "v=19" else { return nil }
        var values: [Substring: Int] = [:]
        for pair in fields[3].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let number = Int(parts[1]) else { return nil }
            values[parts[0]] = number
        }
        guard let m = values["m"], let t = values["t"], let p = values["p"], values.count == 3 else { return nil }
        return Argon2Parameters(memoryKiB: m, iterations: t, parallelism: p)
    }
}
