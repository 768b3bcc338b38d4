/// The cost of the password-based key derivation that protects each keystore file (scrypt, RFC 7914).
///
/// The default, N = 2^17, r = 8, p = 1, follows OWASP's password-storage guidance (about 128 MiB and a few
/// hundred milliseconds per unlock on a server core), making offline guessing of the passphrase expensive.
/// Tests and demos may lower N to 2^14, the floor Fleetkey accepts; nothing lower is ever written or read.
public struct ScryptCost: Sendable, Hashable, Codable {
    public var log2N: Int
    public var r: Int
    public var p: Int

    public static let standard = ScryptCost(log2N: 17, r: 8, p: 1)
    public static let minimumLog2N = 14
    /// An upper bound on what a key file may ask for, so a crafted file cannot exhaust memory.
    public static let maximumLog2N = 22

    public init(log2N: Int, r: Int = 8, p: Int = 1) {
        self.log2N = log2N
        self.r = r
        self.p = p
    }

    var isAcceptable: Bool {
        (Self.minimumLog2N...Self.maximumLog2N).contains(log2N) && (1...32).contains(r) && (1...16).contains(p)
    }

    /// The memory scrypt needs, so BoringSSL's default cap does not refuse legitimate costs.
    var memoryBytes: Int { 128 * r * (1 << log2N) * 2 + (1 << 20) }
}
