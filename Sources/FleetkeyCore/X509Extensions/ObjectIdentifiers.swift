import SwiftASN1

/// Object identifiers Fleetkey uses that swift-certificates does not name.
public enum FleetkeyOID {
    /// id-on-hardwareModuleName, RFC 4108 §5: `{ id-pkix id-on(8) 4 }`.
    public static let hardwareModuleName: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 8, 4]
    /// id-ce-cRLDistributionPoints, RFC 5280 §4.2.1.13.
    public static let crlDistributionPoints: ASN1ObjectIdentifier = [2, 5, 29, 31]
    /// id-pkix-ocsp-nocheck, RFC 6960 §4.2.2.2.1.
    public static let ocspNoCheck: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 5]
    /// id-kp-documentSigning, RFC 9336: the purpose of the manifest-signing certificate.
    public static let documentSigning: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 3, 36]
    /// id-at-serialNumber, X.520: the device serial in a subject.
    public static let serialNumberAttribute: ASN1ObjectIdentifier = [2, 5, 4, 5]
    /// Fleetkey's own arc: a UUID-derived arc under 2.25 (ITU-T X.667 §6.3), which needs no registration.
    public static let fleetkeyArc: ASN1ObjectIdentifier = [2, 25, 5_702_272_524_311_131_528]
    /// The EST TLS key binding attribute of a PKCS#10 request (docs/est.md), `{ fleetkeyArc 1 }`.
    public static let tlsKeyBinding: ASN1ObjectIdentifier = [2, 25, 5_702_272_524_311_131_528, 1]
    /// id-ecPublicKey, RFC 5480 §2.1.1.
    public static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10045, 2, 1]
    /// secp256r1 (prime256v1), RFC 5480 §2.1.1.1.
    public static let secp256r1: ASN1ObjectIdentifier = [1, 2, 840, 10045, 3, 1, 7]
    /// ecdsa-with-SHA256, RFC 5758 §3.2.
    public static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    /// id-signedData, RFC 5652 §5.1.
    public static let cmsSignedData: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 2]
    /// id-data, RFC 5652 §4.
    public static let cmsData: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 1]
}
