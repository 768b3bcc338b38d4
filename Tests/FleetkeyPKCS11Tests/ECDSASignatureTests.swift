import Crypto
import FleetkeyCore
import Testing
import X509

@testable import FleetkeyPKCS11

@Suite("raw CKM_ECDSA signatures become X.509 ECDSA-Sig-Values")
struct ECDSASignatureTests {
    @Test("our DER equals swift-crypto's for many signatures, on P-256 and P-384")
    func matchesSwiftCrypto() throws {
        let message = Array("fleetkey".utf8)
        for _ in 0..<200 {
            let p256 = try P256.Signing.PrivateKey().signature(for: message)
            #expect(
                try ECDSASignature.der(raw: Array(p256.rawRepresentation), coordinateLength: 32)
                    == Array(p256.derRepresentation))
            let p384 = try P384.Signing.PrivateKey().signature(for: message)
            #expect(
                try ECDSASignature.der(raw: Array(p384.rawRepresentation), coordinateLength: 48)
                    == Array(p384.derRepresentation))
        }
    }

    @Test("leading zeros are dropped and a set top bit gets its 0x00")
    func integerEncoding() throws {
        let raw = [UInt8](repeating: 0, count: 31) + [0x01] + [0x80] + [UInt8](repeating: 0x11, count: 31)
        let der = try ECDSASignature.der(raw: raw, coordinateLength: 32)
        #expect(der == [0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00, 0x80] + [UInt8](repeating: 0x11, count: 31))
    }

    @Test("a signature of the wrong length is refused")
    func wrongLength() {
        #expect(throws: FleetkeyError.self) { try ECDSASignature.der(raw: [1, 2, 3], coordinateLength: 32) }
    }
}
