import X509

/// Draws certificate serial numbers: 126 bits from the CSPRNG, positive, always 16 octets.
///
/// RFC 5280 §4.1.2.2 requires positive serials of at most 20 octets, unique per issuer; CA/Browser Forum
/// practice asks for at least 64 bits of CSPRNG output so serials are unpredictable. Fleetkey clears the top
/// bit (positive) and sets the next one (no leading zero octet to strip, so the length is fixed).
/// Uniqueness is then enforced by the registry's constraint, not by luck.
public struct SerialNumberGenerator: Sendable {
    public static let octets = 16
    private let random: any RandomSource

    public init(random: any RandomSource) {
        self.random = random
    }

    public func next() -> Certificate.SerialNumber {
        var bytes = random.bytes(count: Self.octets)
        bytes[0] = (bytes[0] & 0x7F) | 0x40
        return Certificate.SerialNumber(bytes: bytes[...])
    }
}

extension Certificate.SerialNumber {
    /// Upper-case hex of the serial's content octets, as openssl prints serials.
    public var hexString: String { Hex.upper(bytes) }
}
