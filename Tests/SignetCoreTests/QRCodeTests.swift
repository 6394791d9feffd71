import Crypto
import Foundation
import SignetCore
import Testing

/// The QR encoder against an independent one: for each of the eight masks, the module matrix
/// must equal the one Python's `qrcode` library draws for the same bytes, version and level M
/// (compared by the SHA-256 of the rows as 0/1 text). Decoding by a real reader is the browser
/// suite's part.
@Suite("QR code", .timeLimit(.minutes(2)))
struct QRCodeTests {
    static let uri = "otpauth://totp/Signet:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Signet&algorithm=SHA1&digits=6&period=30"

    static let references: [(text: String, version: Int, hashes: [String])] = [
        ("hello", 1, ["52a7aa67e7296ede", "b5607dcfbd80e2bc", "f67f2bc632df800d", "75b99c66edebbd90",
                      "c81027800a8044d0", "aab8a0a72b21c8c6", "073eb88268c25799", "683921f56b2988dd"]),
        (uri, 8, ["ae2bd9e2da82f195", "27a4ac0ad20f97fa", "be27500e79b3ba02", "19dabf0b2edc3a16",
                  "76969bcc8bb59d5d", "442c0061e8beffd5", "d8baaadf9cfcf853", "923acf4540f522b2"]),
        ("otpauth://totp/Signet:bob?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Signet&algorithm=SHA1&digits=6&period=30&x=1234", 7,
         ["c910a9f1b29cd5d2", "9726c28d6a38a1a4", "e3868796107c5265", "3a6994fb754a7358",
          "e7af843338e1e003", "3add4d3fbca8e2da", "c295a4221811776b", "e41a5ba93972b684"]),
        // Version 10: a 16-bit character count.
        (String(repeating: "x", count: 50) + String(repeating: "0123456789", count: 16), 10,
         ["43d6f575b191dddc", "3831d77b4ecb9798", "09fd5a69a5db117a", "288787d487493bbf",
          "170eb5798fe7ee50", "11dc2dd577f85eda", "35a3f6046b348b74", "f3dbc426e60e1b47"]),
    ]

    static func fingerprint(_ code: QRCode) -> String {
        let text = code.modules.map { row in String(row.map { $0 ? "1" : "0" }) }.joined(separator: "\n")
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined().prefix(16).description
    }

    @Test(arguments: 0..<8) func everyMaskMatchesAnIndependentEncoder(mask: Int) throws {
        for reference in Self.references {
            let code = try QRCode(reference.text, mask: mask)
            #expect(code.version == reference.version)
            #expect(code.size == 17 + 4 * reference.version)
            #expect(Self.fingerprint(code) == reference.hashes[mask], "\(reference.version) mask \(mask)")
        }
    }

    @Test func theBestMaskIsOneOfTheEightAndTheSmallestVersionIsUsed() throws {
        let code = try QRCode(Self.uri)
        #expect((0..<8).contains(code.mask) && code.version == 8)
        #expect(try QRCode(String(repeating: "a", count: 14)).version == 1)
        #expect(try QRCode(String(repeating: "a", count: 15)).version == 2)
        #expect(try QRCode(String(repeating: "a", count: 213)).version == 10)
        #expect(throws: QRCode.EncodingError.tooLong(bytes: 214, maximum: 213)) { try QRCode(String(repeating: "a", count: 214)) }
    }

    @Test func theSVGHasAQuietZoneAndAnEscapedLabel() throws {
        let svg = try QRCode("hello").svg(label: "Scan <this> & \"that\"")
        #expect(svg.hasPrefix("<svg ") && svg.contains(#"viewBox="0 0 29 29""#) && svg.contains(#"role="img""#))
        #expect(svg.contains(#"aria-label="Scan &lt;this&gt; &amp; &quot;that&quot;""#))
        #expect(svg.contains("M4 4h1v1h-1z"), "the finder's corner sits after four quiet modules")
    }
}
