import Foundation
import SignetCore
import Testing

@Suite("Argon2id", .timeLimit(.minutes(2)))
struct Argon2Tests {
    /// RFC 9106 §5.3: Argon2id, 32 KiB, 3 passes, 4 lanes, with secret and associated data.
    @Test func rfc9106TestVector() throws {
        let tag = try Argon2id.derive(
            password: [UInt8](repeating: 0x01, count: 32),
            salt: [UInt8](repeating: 0x02, count: 16),
            secret: [UInt8](repeating: 0x03, count: 8),
            associatedData: [UInt8](repeating: 0x04, count: 12),
            parameters: Argon2Parameters(memoryKiB: 32, iterations: 3, parallelism: 4),
            tagLength: 32)
        let expected = "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        #expect(tag.map { String(format: "%02x", $0) }.joined() == expected)
    }

    @Test func hashIsAPHCStringWithTheGivenParameters() throws {
        let parameters = Argon2Parameters.recommended
        let hash = try Argon2id.hash(password: "correct horse", parameters: parameters)
        #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(Argon2id.parameters(of: hash) == parameters)
        #expect(Argon2id.verify(password: "correct horse", encoded: hash))
        #expect(!Argon2id.verify(password: "correct horsf", encoded: hash))
    }

    @Test func twoHashesOfOnePasswordDiffer() throws {
        let a = try Argon2id.hash(password: "same password", parameters: .init(memoryKiB: 64, iterations: 1, parallelism: 1))
        let b = try Argon2id.hash(password: "same password", parameters: .init(memoryKiB: 64, iterations: 1, parallelism: 1))
        #expect(a != b, "each hash has its own salt")
    }

    @Test(arguments: ["", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "$argon2id$v=19$m=64,t=1$x$y",
                      "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"])
    func malformedHashesNeverVerify(encoded: String) {
        #expect(!Argon2id.verify(password: "whatever1", encoded: encoded))
    }
}

@Suite("Password hasher pool", .timeLimit(.minutes(2)))
struct PasswordHasherTests {
    @Test func poolIsNeverWiderThanTheCores() throws {
        let hasher = try PasswordHasher(parameters: .init(memoryKiB: 64, iterations: 1, parallelism: 1), threads: 1000, queueLimit: 4)
        #expect(hasher.threads == ProcessInfo.processInfo.activeProcessorCount)
    }

    @Test func fullQueueTurnsCallersAwayAtOnce() async throws {
        let hasher = try PasswordHasher(parameters: .init(memoryKiB: 32_768, iterations: 4, parallelism: 1), threads: 1, queueLimit: 1)
        let outcomes = await withTaskGroup(of: Bool?.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    do {
                        _ = try await hasher.hash("password-\(UUID())")
                        return true
                    } catch let error as SignetError where error == .hashingOverloaded {
                        return false
                    } catch {
                        return nil
                    }
                }
            }
            return await group.reduce(into: [Bool?]()) { $0.append($1) }
        }
        try await hasher.shutdown()
        #expect(!outcomes.contains(nil))
        #expect(outcomes.contains(true))
        #expect(outcomes.contains(false), "requests beyond threads + queue are refused, not queued")
        #expect(hasher.load == 0)
    }

    @Test func unknownUserVerifiesAgainstTheDummyHashAndFails() async throws {
        let hasher = try PasswordHasher(parameters: .init(memoryKiB: 64, iterations: 1, parallelism: 1), threads: 1, queueLimit: 4)
        #expect(try await hasher.verify("any password", against: nil) == .mismatch)
        try await hasher.shutdown()
    }

    @Test func matchWithOutdatedParametersYieldsARehash() async throws {
        let old = try Argon2id.hash(password: "password one", parameters: .init(memoryKiB: 64, iterations: 1, parallelism: 1))
        let hasher = try PasswordHasher(parameters: .init(memoryKiB: 128, iterations: 2, parallelism: 1), threads: 1, queueLimit: 4)
        guard case .match(let rehash?) = try await hasher.verify("password one", against: old) else {
            Issue.record("expected a match with a rehash")
            return
        }
        #expect(Argon2id.parameters(of: rehash) == hasher.parameters)
        #expect(try await hasher.verify("password one", against: rehash) == .match(rehash: nil))
        #expect(try await hasher.verify("password two", against: rehash) == .mismatch)
        try await hasher.shutdown()
    }
}
