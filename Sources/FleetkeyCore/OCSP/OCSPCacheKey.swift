/// Which pre-signed answer a request can be served: one CA, one serial, one CertID digest form.
///
/// A response repeats the request's CertID, so a SHA-1 and a SHA-256 query for the same certificate need two
/// signed answers; `variant` is the digest and whether its parameters were NULL or absent. The serial is packed
/// into the key itself (up to the 20 octets RFC 5280 §4.1.2.2 allows), so a key costs 24 bytes and no
/// allocation; longer serials are never cached.
struct OCSPCacheKey: Hashable, Sendable {
    let issuer: UInt16
    let variant: UInt8
    let serialLength: UInt8
    let serialHigh: UInt64
    let serialMiddle: UInt64
    let serialLow: UInt32

    static let maximumSerialLength = 20

    init?(issuer: Int, variant: OCSPHashAlgorithmIdentifier, serial: some Collection<UInt8>) {
        guard let code = Self.variantCode(variant), serial.count <= Self.maximumSerialLength,
            let issuer = UInt16(exactly: issuer)
        else { return nil }
        self.init(issuer: issuer, variant: code, serial: serial)
    }

    init(issuer: UInt16, variant: UInt8, serial: some Collection<UInt8>) {
        var padded = [UInt8](repeating: 0, count: Self.maximumSerialLength)
        padded.replaceSubrange(0..<serial.count, with: serial)
        func word(_ range: Range<Int>) -> UInt64 { padded[range].reduce(0) { $0 << 8 | UInt64($1) } }
        self.issuer = issuer
        self.variant = variant
        self.serialLength = UInt8(serial.count)
        self.serialHigh = word(0..<8)
        self.serialMiddle = word(8..<16)
        self.serialLow = UInt32(word(16..<20))
    }

    /// The serial's magnitude octets, as they were packed.
    var serial: [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.maximumSerialLength)
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: serialHigh >> shift))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: serialMiddle >> shift))
        }
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: serialLow >> shift))
        }
        return Array(bytes.prefix(Int(serialLength)))
    }

    /// The CertID hash AlgorithmIdentifier this key's answers repeat.
    var hashAlgorithmIdentifier: OCSPHashAlgorithmIdentifier {
        OCSPHashAlgorithmIdentifier(
            OCSPHashAlgorithm.allCases[Int(variant >> 1)], nullParameters: variant & 1 == 1)
    }

    /// Every variant code, for dropping all of a serial's answers at once.
    static let allVariants: [UInt8] = (0..<UInt8(OCSPHashAlgorithm.allCases.count * 2)).map { $0 }

    static func variantCode(_ identifier: OCSPHashAlgorithmIdentifier) -> UInt8? {
        guard let algorithm = identifier.hashAlgorithm,
            let index = OCSPHashAlgorithm.allCases.firstIndex(of: algorithm)
        else { return nil }
        return UInt8(index * 2 + (identifier.nullParameters ? 1 : 0))
    }
}
