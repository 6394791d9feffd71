import Foundation
import SignetCore
import Testing

/// TOTP against RFC 6238 Appendix B (SHA-1, 8 digits) and the window authenticator apps rely on.
@Suite("TOTP", .timeLimit(.minutes(1)))
struct TOTPTests {
    static let rfcSecret = Array("12345678901234567890".utf8)

    @Test(arguments: [
        (59, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"), (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
    ])
    func rfc6238AppendixBVectors(seconds: Int, expected: String) {
        let totp = TOTP(secret: Self.rfcSecret, digits: 8)
        #expect(totp.code(step: totp.step(at: Date(timeIntervalSince1970: TimeInterval(seconds)))) == expected)
    }

    @Test func oneStepEitherSideIsAcceptedAndNoMore() {
        let totp = TOTP(secret: Self.rfcSecret)
        let now = Date(timeIntervalSince1970: 1_700_000_015)
        let step = totp.step(at: now)
        #expect(totp.code(step: step).count == 6)
        for offset in [-1, 0, 1] { #expect(totp.matchingStep(totp.code(step: step + Int64(offset)), at: now) == step + Int64(offset)) }
        for offset in [-2, 2] { #expect(totp.matchingStep(totp.code(step: step + Int64(offset)), at: now) == nil) }
        #expect(totp.matchingStep("12345", at: now) == nil && totp.matchingStep("", at: now) == nil)
    }

    @Test func secretsAre160RandomBits() {
        let a = TOTP.newSecret(), b = TOTP.newSecret()
        #expect(a.count == 20 && b.count == 20 && a != b)
    }
}

@Suite("Base32", .timeLimit(.minutes(1)))
struct Base32Tests {
    @Test(arguments: [
        ("", ""), ("f", "MY======"), ("fo", "MZXQ===="), ("foo", "MZXW6==="), ("foob", "MZXW6YQ="), ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI======"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base32.encode(Array(plain.utf8)) == encoded)
        #expect(Base32.decode(encoded) == Array(plain.utf8))
        #expect(Base32.decode(encoded.lowercased().replacingOccurrences(of: "=", with: "")) == Array(plain.utf8))
    }

    @Test func aTypedSecretMayHaveSpacesAndNothingOutsideTheAlphabet() {
        let secret = TOTP.newSecret()
        let typed = Base32.encode(secret, padding: false).enumerated().map { $0.offset % 4 == 3 ? "\($0.element) " : "\($0.element)" }.joined()
        #expect(Base32.decode(typed) == secret)
        #expect(Base32.decode("MZXW1") == nil && Base32.decode("MZXW8") == nil)
    }
}

@Suite("Recovery codes and otpauth URIs", .timeLimit(.minutes(1)))
struct RecoveryCodeTests {
    @Test func codesAreTenDistinctAndTypeableInAnyCase() {
        let codes = RecoveryCode.generate()
        #expect(codes.count == 10 && Set(codes).count == 10)
        for code in codes {
            #expect(code.wholeMatch(of: /[a-z2-7]{5}-[a-z2-7]{5}/) != nil)
            #expect(RecoveryCode.normalized(code.uppercased()) == code.replacingOccurrences(of: "-", with: ""))
            #expect(RecoveryCode.normalized(" " + code.replacingOccurrences(of: "-", with: " ")) != nil)
        }
        #expect(RecoveryCode.normalized("abcde-fghi") == nil, "too short")
        #expect(RecoveryCode.normalized("abcde-fgh18") == nil, "1 and 8 are not Base32")
    }

    @Test func theURIFollowsTheKeyURIFormat() {
        let secret = Array("12345678901234567890".utf8)
        let uri = OTPAuthURI.totp(secret: secret, issuer: "id.example.com:8443", account: "ann lee@example.com")
        #expect(uri == "otpauth://totp/id.example.com%3A8443:ann%20lee@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            + "&issuer=id.example.com%3A8443&algorithm=SHA1&digits=6&period=30")
        #expect(OTPAuthURI.grouped(secret) == "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ")
        #expect(Base32.decode(OTPAuthURI.grouped(secret)) == secret, "the grouped text types back to the secret")
    }
}
