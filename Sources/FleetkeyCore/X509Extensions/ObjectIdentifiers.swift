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
}
