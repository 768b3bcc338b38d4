import Crypto
import FleetkeyCore
import SwiftASN1
import X509

/// ECDSA through a token that only offers CKM_ECDSA: hash in the process, sign the digest in the token, and encode
/// the token's raw `r || s` (PKCS#11 v2.40 §2.3.6) as X.509's ECDSA-Sig-Value (RFC 3279 §2.2.3):
///
/// ```
/// Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
/// ```
/// SoftHSM2 has no CKM_ECDSA_SHA256/384 mechanisms, and hashing here works with every token.
enum ECDSASignature {
    /// The digest the token signs for `algorithm` (RFC 5758 §3.2: ecdsa-with-SHA256/384/512).
    static func digest(_ message: [UInt8], for algorithm: Certificate.SignatureAlgorithm) throws -> [UInt8] {
        switch algorithm {
        case .ecdsaWithSHA256: Array(SHA256.hash(data: message))
        case .ecdsaWithSHA384: Array(SHA384.hash(data: message))
        case .ecdsaWithSHA512: Array(SHA512.hash(data: message))
        default:
            throw FleetkeyError(.algorithmNotAllowed, "a PKCS#11 ECDSA key cannot sign with \(algorithm)")
        }
    }

    /// DER ECDSA-Sig-Value from the token's fixed-width `r || s`.
    static func der(raw: [UInt8], coordinateLength: Int) throws -> [UInt8] {
        guard raw.count == 2 * coordinateLength else {
            throw FleetkeyError(
                .custodyUnavailable,
                "the token returned a \(raw.count)-byte ECDSA signature where \(2 * coordinateLength) bytes were expected"
            )
        }
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(minimal(raw[..<coordinateLength]))
            try coder.serialize(minimal(raw[coordinateLength...]))
        }
        return serializer.serializedBytes
    }

    /// A certificate signature from the token's raw output.
    static func signature(raw: [UInt8], curve: ECCurve, algorithm: Certificate.SignatureAlgorithm) throws
        -> Certificate.Signature
    {
        let der = try der(raw: raw, coordinateLength: curve.coordinateLength)
        return try Certificate.Signature(signatureAlgorithm: algorithm, signatureBytes: ASN1BitString(bytes: der[...]))
    }

    /// An unsigned big-endian integer without leading zero bytes; SwiftASN1 adds the 0x00 a set top bit needs.
    private static func minimal(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let trimmed = bytes.drop { $0 == 0 }
        return trimmed.isEmpty ? [0][...] : trimmed
    }
}
