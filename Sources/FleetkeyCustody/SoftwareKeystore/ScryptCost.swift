import FleetkeyCore

/// The cost of the password-based key derivation that protects each keystore file (scrypt, RFC 7914).
///
/// The default, N = 2^17, r = 8, p = 1, follows OWASP's password-storage guidance (about 128 MiB and a few
/// hundred milliseconds per unlock on a server core), making offline guessing of the passphrase expensive.
/// Tests and demos may lower N to 2^14, the floor Fleetkey accepts; nothing lower is ever written or read.
///
/// A key file records its own N, r and p, and scrypt needs 128 · r · N bytes (RFC 7914 §6, the V array of ROMix),
/// so a crafted file could otherwise ask for 16 GiB (N = 2^22, r = 32) or hours of work (large p). Every cost is
/// checked against the bounds below, with an error naming the file and the field, before scrypt runs.
package struct ScryptCost: Sendable, Hashable, Codable {
    package var log2N: Int
    package var r: Int
    package var p: Int

    package static let standard = ScryptCost(log2N: 17, r: 8, p: 1)
    /// The least and the most `fleetkey init --kdf-log2n` accepts, and so the only N a key file may record.
    package static let minimumLog2N = 14
    package static let maximumLog2N = 22
    /// The block sizes accepted: Fleetkey writes r = 8 (RFC 7914's recommendation); twice that at most.
    package static let blockSizes = 1...16
    /// The parallelisms accepted: Fleetkey writes p = 1; each unit of p repeats the whole derivation.
    package static let parallelisms = 1...4
    /// The most memory a cost may ask for: what the largest cost Fleetkey writes needs (N = 2^22, r = 8: 4 GiB).
    package static let maximumMemoryBytes = 128 * 8 * (1 << 22)

    package init(log2N: Int, r: Int = 8, p: Int = 1) {
        self.log2N = log2N
        self.r = r
        self.p = p
    }

    /// Refuses a cost outside the bounds; the error names `source` (a key file's path) and the field at fault.
    func check(source: String) throws(FleetkeyError) {
        guard (Self.minimumLog2N...Self.maximumLog2N).contains(log2N) else {
            throw FleetkeyError(
                .keyAccessDenied,
                "\(source): kdf.log2N = \(log2N) is outside \(Self.minimumLog2N)...\(Self.maximumLog2N), what "
                    + "`fleetkey init --kdf-log2n` accepts; scrypt was not run")
        }
        guard Self.blockSizes.contains(r) else {
            throw FleetkeyError(
                .keyAccessDenied,
                "\(source): kdf.r = \(r) is outside \(Self.blockSizes.lowerBound)...\(Self.blockSizes.upperBound) "
                    + "(Fleetkey writes r = 8); scrypt was not run")
        }
        guard Self.parallelisms.contains(p) else {
            throw FleetkeyError(
                .keyAccessDenied,
                "\(source): kdf.p = \(p) is outside \(Self.parallelisms.lowerBound)...\(Self.parallelisms.upperBound) "
                    + "(Fleetkey writes p = 1); scrypt was not run")
        }
        guard requiredMemoryBytes <= Self.maximumMemoryBytes else {
            throw FleetkeyError(
                .keyAccessDenied,
                "\(source): kdf.r = \(r) with kdf.log2N = \(log2N) asks scrypt for \(requiredMemoryBytes >> 20) MiB, "
                    + "more than the \(Self.maximumMemoryBytes >> 20) MiB of the largest cost Fleetkey writes; scrypt "
                    + "was not run")
        }
    }

    /// The size of scrypt's V array, 128 · r · N bytes (RFC 7914 §5, ROMix), which dominates what it allocates.
    var requiredMemoryBytes: Int { 128 * r * (1 << log2N) }

    /// The memory cap handed to BoringSSL for a checked cost: V, the p + 1 blocks of 128 · r bytes beside it, and a
    /// mebibyte of headroom.
    var memoryBytes: Int { 128 * r * ((1 << log2N) + p + 1) + (1 << 20) }
}
