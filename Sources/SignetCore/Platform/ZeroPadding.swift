extension String {
    /// This string with leading zeros up to `width` characters (hex ids, code points).
    package func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
