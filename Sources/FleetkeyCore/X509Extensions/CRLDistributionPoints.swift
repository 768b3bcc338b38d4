import SwiftASN1
import X509

/// The cRLDistributionPoints extension, RFC 5280 §4.2.1.13: where relying parties fetch the issuer's CRL.
///
/// ```
/// CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint
/// ```
/// Device certificates need one: hard-fail relying parties ignore CRLs for certificates without it.
public struct CRLDistributionPoints: DERImplicitlyTaggable, Hashable, Sendable, CertificateExtensionConvertible {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var points: [DistributionPoint]

    public init(_ points: [DistributionPoint]) {
        self.points = points
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        let points = try DER.sequence(of: DistributionPoint.self, identifier: identifier, rootNode: rootNode)
        guard !points.isEmpty else {
            throw ASN1Error.invalidASN1Object(reason: "cRLDistributionPoints must hold at least one point")
        }
        self.points = points
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.serializeSequenceOf(points, identifier: identifier)
    }

    /// Reads the extension from a certificate extension.
    public init(_ ext: Certificate.Extension) throws {
        guard ext.oid == FleetkeyOID.crlDistributionPoints else {
            throw FleetkeyError(.malformedInput, "extension \(ext.oid) is not cRLDistributionPoints")
        }
        self = try CRLDistributionPoints(derEncoded: ext.value)
    }

    /// RFC 5280 §4.2.1.13: "SHOULD be non-critical".
    public func makeCertificateExtension() throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return Certificate.Extension(
            oid: FleetkeyOID.crlDistributionPoints, critical: false, value: serializer.serializedBytes[...])
    }
}
