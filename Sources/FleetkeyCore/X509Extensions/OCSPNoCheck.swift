import SwiftASN1
import X509

/// id-pkix-ocsp-nocheck, RFC 6960 §4.2.2.2.1: relying parties need not check a delegated responder's own status.
///
/// ```
/// ocspNoCheck EXTENSION ::= { SYNTAX NULL IDENTIFIED BY id-pkix-ocsp-nocheck }
/// ```
/// The extension value is an ASN.1 NULL; it is non-critical.
public struct OCSPNoCheck: Hashable, Sendable, CertificateExtensionConvertible {
    public init() {}

    public func makeCertificateExtension() throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.serialize(ASN1Null())
        return Certificate.Extension(
            oid: FleetkeyOID.ocspNoCheck, critical: false, value: serializer.serializedBytes[...])
    }
}
