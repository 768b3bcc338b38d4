import SwiftASN1

/// Object identifiers of RFC 6960 (OCSP) and of the digests a CertID may be hashed with.
extension FleetkeyOID {
    /// id-pkix-ocsp-basic, RFC 6960 §4.2.1: `{ id-pkix-ocsp 1 }`, the only response type Fleetkey writes.
    public static let ocspBasicResponse: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 1]
    /// id-pkix-ocsp-nonce, RFC 6960 §4.4.1 as replaced by RFC 9654 §2.1: `{ id-pkix-ocsp 2 }`.
    public static let ocspNonce: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 2]
    /// id-sha1, RFC 3279 §2.2.1.
    public static let sha1: ASN1ObjectIdentifier = [1, 3, 14, 3, 2, 26]
    /// id-sha256, RFC 5754 §2.2.
    public static let sha256: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 1]
    /// id-sha384, RFC 5754 §2.3.
    public static let sha384: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 2]
    /// id-sha512, RFC 5754 §2.4.
    public static let sha512: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 3]
}
