import Crypto
import Foundation

/// The machine's own limits for the issuance workload: raw ECDSA sign and verify per second on one core.
///
/// One issuance costs one verify (the request's proof of possession) and one sign (the certificate), so
/// 1 / (1/sign + 1/verify) is the most certificates per second a core could ever issue with P-256.
struct CryptoReference: Sendable {
    var p256Sign: Double
    var p256Verify: Double
    var p384Sign: Double
    var p384Verify: Double

    var issuanceBound: Double { 1 / (1 / p256Sign + 1 / p256Verify) }

    static func measure(seconds: Double) -> CryptoReference {
        // A to-be-signed payload the size of a device certificate's TBSCertificate.
        let payload = Data((0..<420).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let p256 = P256.Signing.PrivateKey()
        let p384 = P384.Signing.PrivateKey()
        let p256Signature = try! p256.signature(for: payload)
        let p384Signature = try! p384.signature(for: payload)
        return CryptoReference(
            p256Sign: rate(seconds) { _ = try! p256.signature(for: payload) },
            p256Verify: rate(seconds) { _ = p256.publicKey.isValidSignature(p256Signature, for: payload) },
            p384Sign: rate(seconds) { _ = try! p384.signature(for: payload) },
            p384Verify: rate(seconds) { _ = p384.publicKey.isValidSignature(p384Signature, for: payload) })
    }

    /// Operations per second of `body`, run in batches until `seconds` have passed.
    private static func rate(_ seconds: Double, _ body: () -> Void) -> Double {
        for _ in 0..<50 { body() }  // warm up
        var operations = 0
        let (_, elapsed) = Stopwatch.seconds { () -> Void in
            let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
            while DispatchTime.now().uptimeNanoseconds < deadline {
                for _ in 0..<100 { body() }
                operations += 100
            }
        }
        return Double(operations) / elapsed
    }
}
