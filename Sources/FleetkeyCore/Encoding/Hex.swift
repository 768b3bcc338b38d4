/// Hexadecimal text for byte strings: serial numbers (upper case, as openssl prints them) and fingerprints (lower case).
public enum Hex {
    private static let upperDigits = Array("0123456789ABCDEF".utf8)
    private static let lowerDigits = Array("0123456789abcdef".utf8)

    public static func upper(_ bytes: some Sequence<UInt8>) -> String { encode(bytes, upperDigits) }
    public static func lower(_ bytes: some Sequence<UInt8>) -> String { encode(bytes, lowerDigits) }

    /// Decodes hex text (either case, optional `0x` prefix, optional `:` separators), or `nil` when it is not hex.
    public static func decode(_ text: String) -> [UInt8]? {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        let clean = digits.utf8.filter { $0 != UInt8(ascii: ":") }
        guard !clean.isEmpty else { return nil }
        let padded = clean.count % 2 == 1 ? [UInt8(ascii: "0")] + clean : clean
        var out = [UInt8]()
        out.reserveCapacity(padded.count / 2)
        var index = 0
        while index < padded.count {
            guard let high = value(padded[index]), let low = value(padded[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func encode(_ bytes: some Sequence<UInt8>, _ digits: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
