import SwiftASN1
import X509

/// Where a CRL can be fetched, RFC 5280 §4.2.1.13.
///
/// ```
/// DistributionPointName ::= CHOICE {
///     fullName                [0]     GeneralNames,
///     nameRelativeToCRLIssuer [1]     RelativeDistinguishedName }
/// ```
/// Fleetkey publishes `fullName` with URIs only; `nameRelativeToCRLIssuer` is kept as raw DER when parsed.
public enum DistributionPointName: Hashable, Sendable, DERParseable, DERSerializable {
    case fullName([GeneralName])
    case nameRelativeToCRLIssuer(ASN1Any)

    static let fullNameTag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
    static let relativeTag = ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific)

    public init(derEncoded node: ASN1Node) throws {
        switch node.identifier {
        case Self.fullNameTag:
            self = .fullName(
                try DER.sequence(of: GeneralName.self, identifier: Self.fullNameTag, rootNode: node))
        case Self.relativeTag:
            self = .nameRelativeToCRLIssuer(ASN1Any(derEncoded: node))
        default:
            throw ASN1Error.unexpectedFieldType(node.identifier)
        }
    }

    public func serialize(into coder: inout DER.Serializer) throws {
        switch self {
        case .fullName(let names):
            try coder.appendConstructedNode(identifier: Self.fullNameTag) { coder in
                for name in names { try coder.serialize(name) }
            }
        case .nameRelativeToCRLIssuer(let any):
            try coder.serialize(any)
        }
    }
}
