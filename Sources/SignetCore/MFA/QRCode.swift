import Foundation

/// A QR code (ISO/IEC 18004) for what an authenticator app scans: byte mode, error correction
/// level M, versions 1–10 (up to 213 bytes — an `otpauth://` URI needs about 100–150). Built
/// once; `modules[row][column]` is true for a dark module, without the quiet zone.
///
/// Written here because no QR encoder is available to the build; the steps follow the standard:
/// data codewords, Reed–Solomon error correction per block, interleaving, the function patterns,
/// the zigzag placement, and the mask with the lowest penalty (or a given one).
public struct QRCode: Sendable, Equatable {
    public let version: Int
    public let mask: Int
    public let modules: [[Bool]]
    public var size: Int { modules.count }

    public enum EncodingError: Error, Equatable {
        /// More bytes than version 10 at level M holds.
        case tooLong(bytes: Int, maximum: Int)
    }

    /// The smallest version that holds `data`, with the best mask unless `mask` (0–7) is given.
    public init(_ data: [UInt8], mask: Int? = nil) throws(EncodingError) {
        guard let version = (1...10).first(where: { Self.capacity(version: $0) >= data.count }) else {
            throw .tooLong(bytes: data.count, maximum: Self.capacity(version: 10))
        }
        self.version = version
        var matrix = Matrix(version: version)
        matrix.drawFunctionPatterns()
        matrix.drawCodewords(Self.codewords(data, version: version))
        let chosen = mask ?? (0..<8).min { matrix.masked($0).penalty < matrix.masked($1).penalty }!
        self.mask = chosen
        modules = matrix.masked(chosen).dark
    }

    public init(_ text: String, mask: Int? = nil) throws(EncodingError) {
        try self.init(Array(text.utf8), mask: mask)
    }

    /// An SVG drawing of the code with a 4-module quiet zone, one path of unit squares, scaled by
    /// the viewer; `label` is its accessible name.
    public func svg(label: String) -> String {
        let side = size + 8
        var path = ""
        for (row, line) in modules.enumerated() {
            for (column, dark) in line.enumerated() where dark {
                path += "M\(column + 4) \(row + 4)h1v1h-1z"
            }
        }
        let escaped = label.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        return #"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(side) \#(side)" role="img" aria-label="\#(escaped)" shape-rendering="crispEdges"><rect width="\#(side)" height="\#(side)" fill="white"/><path d="\#(path)" fill="black"/></svg>"#
    }

    // MARK: Codewords

    /// Blocks and error-correction codewords per block at level M, versions 1–10.
    static let blocks: [(count: Int, ecc: Int)] = [
        (1, 10), (1, 16), (1, 26), (2, 18), (2, 24), (4, 16), (4, 18), (4, 22), (5, 22), (5, 26),
    ]

    /// All codewords (data and error correction) of versions 1–10.
    static let totals = [26, 44, 70, 100, 134, 172, 196, 242, 292, 346]

    static func totalCodewords(version: Int) -> Int { totals[version - 1] }

    static func dataCodewords(version: Int) -> Int {
        let (count, ecc) = blocks[version - 1]
        return totalCodewords(version: version) - count * ecc
    }

    /// Bytes a version holds in byte mode (4-bit mode, 8- or 16-bit count).
    static func capacity(version: Int) -> Int {
        (dataCodewords(version: version) * 8 - 4 - (version < 10 ? 8 : 16)) / 8
    }

    /// The data in byte mode with terminator and padding, split into blocks, each followed by its
    /// Reed–Solomon codewords, interleaved.
    static func codewords(_ data: [UInt8], version: Int) -> [UInt8] {
        var bits = BitBuffer()
        bits.append(0b0100, count: 4)
        bits.append(data.count, count: version < 10 ? 8 : 16)
        for byte in data { bits.append(Int(byte), count: 8) }
        let capacityBits = dataCodewords(version: version) * 8
        bits.append(0, count: min(4, capacityBits - bits.count))
        bits.append(0, count: (8 - bits.count % 8) % 8)
        var bytes = bits.bytes
        var pad: UInt8 = 0xEC
        while bytes.count < capacityBits / 8 {
            bytes.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }
        let (count, ecc) = blocks[version - 1]
        let total = totalCodewords(version: version)
        let shortBlocks = count - total % count
        let shortLength = total / count - ecc
        let divisor = ReedSolomon.divisor(degree: ecc)
        var dataBlocks: [[UInt8]] = [], eccBlocks: [[UInt8]] = []
        var offset = 0
        for index in 0..<count {
            let length = shortLength + (index < shortBlocks ? 0 : 1)
            let block = Array(bytes[offset..<offset + length])
            offset += length
            dataBlocks.append(block)
            eccBlocks.append(ReedSolomon.remainder(block, divisor: divisor))
        }
        var result: [UInt8] = []
        for column in 0...shortLength {
            for block in dataBlocks where column < block.count { result.append(block[column]) }
        }
        for column in 0..<ecc {
            for block in eccBlocks { result.append(block[column]) }
        }
        return result
    }
}

extension QRCode {
    /// Bits, most significant first.
    struct BitBuffer {
        private(set) var bits: [Bool] = []
        var count: Int { bits.count }

        mutating func append(_ value: Int, count: Int) {
            for shift in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> shift) & 1 == 1) }
        }

        var bytes: [UInt8] {
            stride(from: 0, to: bits.count, by: 8).map { start in
                bits[start..<min(start + 8, bits.count)].enumerated().reduce(UInt8(0)) { $0 | ($1.element ? 0x80 >> UInt8($1.offset) : 0) }
            }
        }
    }

    /// Reed–Solomon over GF(256) with the polynomial x⁸ + x⁴ + x³ + x² + 1 (0x11D).
    enum ReedSolomon {
        static func multiply(_ x: UInt8, _ y: UInt8) -> UInt8 {
            var z = 0
            for shift in stride(from: 7, through: 0, by: -1) {
                z = (z << 1) ^ ((z >> 7) * 0x11D)
                z ^= ((Int(y) >> shift) & 1) * Int(x)
            }
            return UInt8(z)
        }

        /// The generator polynomial of `degree`, highest coefficient (always 1) left out.
        static func divisor(degree: Int) -> [UInt8] {
            var result = [UInt8](repeating: 0, count: degree)
            result[degree - 1] = 1
            var root: UInt8 = 1
            for _ in 0..<degree {
                for index in 0..<degree {
                    result[index] = multiply(result[index], root)
                    if index + 1 < degree { result[index] ^= result[index + 1] }
                }
                root = multiply(root, 0x02)
            }
            return result
        }

        static func remainder(_ data: [UInt8], divisor: [UInt8]) -> [UInt8] {
            var result = [UInt8](repeating: 0, count: divisor.count)
            for byte in data {
                let factor = byte ^ result.removeFirst()
                result.append(0)
                for index in result.indices { result[index] ^= multiply(divisor[index], factor) }
            }
            return result
        }
    }

    /// The module grid while it is being built: which modules are dark, and which belong to
    /// function patterns (never masked, never holding data).
    struct Matrix {
        let version: Int
        let size: Int
        var dark: [[Bool]]
        var reserved: [[Bool]]

        init(version: Int) {
            self.version = version
            size = 17 + 4 * version
            dark = Array(repeating: Array(repeating: false, count: size), count: size)
            reserved = dark
        }

        mutating func set(row: Int, column: Int, _ value: Bool) {
            dark[row][column] = value
            reserved[row][column] = true
        }

        mutating func drawFunctionPatterns() {
            for index in 0..<size {
                set(row: 6, column: index, index % 2 == 0)
                set(row: index, column: 6, index % 2 == 0)
            }
            for (row, column) in [(3, 3), (3, size - 4), (size - 4, 3)] {
                for dr in -4...4 {
                    for dc in -4...4 where (0..<size).contains(row + dr) && (0..<size).contains(column + dc) {
                        let distance = max(abs(dr), abs(dc))
                        set(row: row + dr, column: column + dc, distance != 2 && distance != 4)
                    }
                }
            }
            let centers = Self.alignmentCenters(version: version)
            for (i, row) in centers.enumerated() {
                for (j, column) in centers.enumerated() {
                    let last = centers.count - 1
                    if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) { continue }
                    for dr in -2...2 {
                        for dc in -2...2 { set(row: row + dr, column: column + dc, max(abs(dr), abs(dc)) != 1) }
                    }
                }
            }
            drawFormat(mask: 0)  // reserves the format areas; the real bits come with the mask
            if version >= 7 {
                var remainder = version
                for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
                let bits = version << 12 | remainder
                for index in 0..<18 {
                    let bit = (bits >> index) & 1 == 1
                    let a = size - 11 + index % 3, b = index / 3
                    set(row: b, column: a, bit)
                    set(row: a, column: b, bit)
                }
            }
        }

        /// Level M (format bits 00) with `mask`, BCH-protected, in both copies; plus the dark module.
        mutating func drawFormat(mask: Int) {
            let data = 0b00 << 3 | mask
            var remainder = data
            for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
            let bits = (data << 10 | remainder) ^ 0x5412
            func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
            for index in 0...5 { set(row: index, column: 8, bit(index)) }
            set(row: 7, column: 8, bit(6))
            set(row: 8, column: 8, bit(7))
            set(row: 8, column: 7, bit(8))
            for index in 9..<15 { set(row: 8, column: 14 - index, bit(index)) }
            for index in 0..<8 { set(row: 8, column: size - 1 - index, bit(index)) }
            for index in 8..<15 { set(row: size - 15 + index, column: 8, bit(index)) }
            set(row: size - 8, column: 8, true)
        }

        /// Row and column positions of the alignment patterns' centers, versions 1–10.
        static func alignmentCenters(version: Int) -> [Int] {
            [[], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]][version - 1]
        }

        /// Places the codewords in the two-column zigzag from the bottom right, around the
        /// function patterns.
        mutating func drawCodewords(_ codewords: [UInt8]) {
            var index = 0
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                for vertical in 0..<size {
                    for offset in 0..<2 {
                        let column = right - offset
                        let upward = (right + 1) & 2 == 0
                        let row = upward ? size - 1 - vertical : vertical
                        if !reserved[row][column] && index < codewords.count * 8 {
                            dark[row][column] = (codewords[index >> 3] >> (7 - UInt8(index & 7))) & 1 == 1
                            index += 1
                        }
                    }
                }
                right -= 2
            }
        }

        /// This matrix with `mask` applied to the data modules and its format bits written.
        func masked(_ mask: Int) -> Matrix {
            var copy = self
            for row in 0..<size {
                for column in 0..<size where !reserved[row][column] {
                    let (i, j) = (row, column)
                    let flip = switch mask {
                    case 0: (i + j) % 2 == 0
                    case 1: i % 2 == 0
                    case 2: j % 3 == 0
                    case 3: (i + j) % 3 == 0
                    case 4: (i / 2 + j / 3) % 2 == 0
                    case 5: (i * j) % 2 + (i * j) % 3 == 0
                    case 6: ((i * j) % 2 + (i * j) % 3) % 2 == 0
                    default: ((i + j) % 2 + (i * j) % 3) % 2 == 0
                    }
                    if flip { copy.dark[row][column].toggle() }
                }
            }
            copy.drawFormat(mask: mask)
            return copy
        }

        /// The standard's penalty: runs of five or more, 2×2 blocks, finder-like 1:1:3:1:1
        /// patterns with four light modules beside them, and imbalance of dark and light.
        var penalty: Int {
            var score = 0
            let lines = dark + (0..<size).map { column in dark.map { $0[column] } }
            let finderLike: [Bool] = [true, false, true, true, true, false, true]
            for line in lines {
                var run = 1
                for index in 1..<size {
                    if line[index] == line[index - 1] {
                        run += 1
                    } else {
                        if run >= 5 { score += run - 2 }
                        run = 1
                    }
                }
                if run >= 5 { score += run - 2 }
                for start in 0...(size - 7) where Array(line[start..<start + 7]) == finderLike {
                    let before = start >= 4 && !line[(start - 4)..<start].contains(true)
                    let after = start + 11 <= size && !line[(start + 7)..<(start + 11)].contains(true)
                    if before || after { score += 40 }
                }
            }
            for row in 0..<(size - 1) {
                for column in 0..<(size - 1) {
                    let color = dark[row][column]
                    if dark[row][column + 1] == color && dark[row + 1][column] == color && dark[row + 1][column + 1] == color {
                        score += 3
                    }
                }
            }
            let darkCount = dark.reduce(0) { $0 + $1.filter { $0 }.count }
            let total = size * size
            let deviation = abs(darkCount * 20 - total * 10)
            score += ((deviation + total - 1) / total - 1) * 10
            return score
        }
    }
}
