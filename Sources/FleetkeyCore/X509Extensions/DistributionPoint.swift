import SwiftASN1
import X509

/// One CRL distribution point, RFC 5280 §4.2.1.13.
///
/// ```
/// DistributionPoint ::= SEQUENCE {
///     distributionPoint       [0]     DistributionPointName OPTIONAL,
///     reasons                 [1]     ReasonFlags OPTIONAL,
///     cRLIssuer               [2]     GeneralNames OPTIONAL }
/// ```
/// Fleetkey's CAs issue their own CRLs covering all reasons, so it writes `distributionPoint` only;
/// parsing keeps `reasons` and `cRLIssuer` as raw DER so nothing read is lost.
public struct DistributionPoint: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var name: DistributionPointName?
    public var reasons: ASN1Any?
    public var crlIssuer: ASN1Any?

    public init(name: DistributionPointName?, reasons: ASN1Any? = nil, crlIssuer: ASN1Any? = nil) {
        self.name = name
        self.reasons = reasons
        self.crlIssuer = crlIssuer
    }

    /// A distribution point at one URI.
    public init(uri: String) {
        self.init(name: .fullName([.uniformResourceIdentifier(uri)]))
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let name = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try DistributionPointName(derEncoded: $0)
            }
            var reasons: ASN1Any?
            var issuer: ASN1Any?
            while let node = nodes.next() {
                switch node.identifier {
                case ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific): reasons = ASN1Any(derEncoded: node)
                case ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific): issuer = ASN1Any(derEncoded: node)
                default: throw ASN1Error.unexpectedFieldType(node.identifier)
                }
            }
            return DistributionPoint(name: name, reasons: reasons, crlIssuer: issuer)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            if let name {
                try coder.appendConstructedNode(
                    identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
                ) { coder in try coder.serialize(name) }
            }
            if let reasons { try coder.serialize(reasons) }
            if let crlIssuer { try coder.serialize(crlIssuer) }
        }
    }

    /// The URIs this point names.
    public var uris: [String] {
        guard case .fullName(let names) = name else { return [] }
        return names.compactMap {
            if case .uniformResourceIdentifier(let uri) = $0 { return uri }
            return nil
        }
    }
}
