import Crypto
import FleetkeyCore
import SwiftASN1
import X509

/// The elliptic curves Fleetkey makes keys on inside a token, with what PKCS#11 needs to know of each.
///
/// CKA_EC_PARAMS holds the DER of the curve's namedCurve OID (PKCS#11 v2.40 §2.3.3, RFC 5480 §2.1.1.1).
enum ECCurve: Sendable, CaseIterable {
    case p256
    case p384
    case p521

    init(_ spec: KeySpec) throws {
        switch spec.family {
        case .ecdsaP256: self = .p256
        case .ecdsaP384: self = .p384
        case .ecdsaP521: self = .p521
        default:
            throw FleetkeyError(
                .algorithmNotAllowed,
                "PKCS#11 custody makes ECDSA keys (p256, p384, p521), not \(spec); choose one of those with --algorithm"
            )
        }
    }

    init?(parameters: [UInt8]) {
        guard let curve = Self.allCases.first(where: { $0.parameters == parameters }) else { return nil }
        self = curve
    }

    var keySpec: KeySpec {
        switch self {
        case .p256: .p256
        case .p384: .p384
        case .p521: .p521
        }
    }

    /// DER of secp256r1 (1.2.840.10045.3.1.7), secp384r1 (1.3.132.0.34), secp521r1 (1.3.132.0.35).
    var parameters: [UInt8] {
        switch self {
        case .p256: [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
        case .p384: [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22]
        case .p521: [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23]
        }
    }

    /// The length of one coordinate, and of r and s in a raw CKM_ECDSA signature.
    var coordinateLength: Int {
        switch self {
        case .p256: 32
        case .p384: 48
        case .p521: 66
        }
    }

    /// The public key from CKA_EC_POINT: a DER OCTET STRING around the X9.62 uncompressed point
    /// (v2.40 §2.3.3), or the bare point, which some modules return.
    func publicKey(ecPoint: [UInt8]) throws -> Certificate.PublicKey {
        var point = ecPoint
        if point.count != 1 + 2 * coordinateLength {
            point = Array(try ASN1OctetString(derEncoded: ecPoint).bytes)
        }
        switch self {
        case .p256: return Certificate.PublicKey(try P256.Signing.PublicKey(x963Representation: point))
        case .p384: return Certificate.PublicKey(try P384.Signing.PublicKey(x963Representation: point))
        case .p521: return Certificate.PublicKey(try P521.Signing.PublicKey(x963Representation: point))
        }
    }
}
