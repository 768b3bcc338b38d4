import SwiftASN1
import X509

/// The issuingDistributionPoint CRL extension, RFC 5280 §5.2.5: which certificates a (partitioned) CRL covers.
///
/// ```
/// IssuingDistributionPoint ::= SEQUENCE {
///      distributionPoint          [0] DistributionPointName OPTIONAL,
///      onlyContainsUserCerts      [1] BOOLEAN DEFAULT FALSE,
///      onlyContainsCACerts        [2] BOOLEAN DEFAULT FALSE,
///      onlySomeReasons            [3] ReasonFlags OPTIONAL,
///      indirectCRL                [4] BOOLEAN DEFAULT FALSE,
///      onlyContainsAttributeCerts [5] BOOLEAN DEFAULT FALSE }
/// ```
/// The extension is critical. A partition's IDP names the same URI as the cRLDistributionPoint of the
/// certificates it covers, which is how a relying party knows the partition is the complete CRL for them.
/// DER omits fields equal to their DEFAULT.
public struct IssuingDistributionPoint: Hashable, Sendable, DERImplicitlyTaggable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public static let oid: ASN1ObjectIdentifier = [2, 5, 29, 28]

    public var distributionPoint: DistributionPointName?
    public var onlyContainsUserCerts: Bool
    public var onlyContainsCACerts: Bool

    public init(
        distributionPoint: DistributionPointName?, onlyContainsUserCerts: Bool = false,
        onlyContainsCACerts: Bool = false
    ) {
        self.distributionPoint = distributionPoint
        self.onlyContainsUserCerts = onlyContainsUserCerts
        self.onlyContainsCACerts = onlyContainsCACerts
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let point = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try DistributionPointName(derEncoded: $0)
            }
            var user = false
            var ca = false
            while let node = nodes.next() {
                guard case .primitive(let content) = node.content, content.count == 1 else {
                    throw ASN1Error.invalidASN1Object(reason: "issuingDistributionPoint field is not a BOOLEAN")
                }
                // DER: TRUE is 0xFF, and a field equal to its DEFAULT (FALSE) is never encoded (X.690 §11.5).
                guard content.first == 0xFF else {
                    throw ASN1Error.invalidASN1Object(
                        reason: "issuingDistributionPoint encodes a DEFAULT FALSE or a non-DER TRUE")
                }
                switch node.identifier {
                case ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) where !user && !ca: user = true
                case ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific) where !ca: ca = true
                default:
                    throw ASN1Error.invalidASN1Object(
                        reason: "issuingDistributionPoint fields Fleetkey does not support")
                }
            }
            return IssuingDistributionPoint(
                distributionPoint: point, onlyContainsUserCerts: user, onlyContainsCACerts: ca)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            if let distributionPoint {
                try coder.appendConstructedNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) {
                    coder in
                    try coder.serialize(distributionPoint)
                }
            }
            // [1] and [2] are IMPLICIT BOOLEANs (the module's default tagging): TRUE is the single octet 0xFF.
            if onlyContainsUserCerts {
                coder.appendPrimitiveNode(identifier: .init(tagWithNumber: 1, tagClass: .contextSpecific)) {
                    $0.append(0xFF)
                }
            }
            if onlyContainsCACerts {
                coder.appendPrimitiveNode(identifier: .init(tagWithNumber: 2, tagClass: .contextSpecific)) {
                    $0.append(0xFF)
                }
            }
        }
    }

    public func makeExtension() throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return Certificate.Extension(oid: Self.oid, critical: true, value: serializer.serializedBytes[...])
    }
}
