import SwiftASN1
import X509

/// A certs-only CMS message (RFC 5652 §5.1, "degenerate" SignedData with no signers): how EST carries the CA
/// certificates of `/cacerts` and the certificate `/simpleenroll` returns (RFC 7030 §4.1.3, §4.2.3).
///
/// ```
/// ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
/// SignedData  ::= SEQUENCE { version 1, digestAlgorithms SET {}, encapContentInfo SEQUENCE { id-data },
///                            certificates [0] IMPLICIT SET OF Certificate, signerInfos SET {} }
/// ```
public struct CertsOnlyCMS: DERImplicitlyTaggable, Sendable, Hashable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var certificates: [Certificate]

    public init(certificates: [Certificate]) {
        self.certificates = certificates
    }

    private static let certificatesTag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
    private static let crlsTag = ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific)

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let contentType = try ASN1ObjectIdentifier(derEncoded: &nodes)
            guard contentType == FleetkeyOID.cmsSignedData else {
                throw ASN1Error.invalidASN1Object(reason: "CMS content type \(contentType) is not id-signedData")
            }
            return try DER.explicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { node in
                try DER.sequence(node, identifier: .sequence) { fields in
                    let version = try Int(derEncoded: &fields)
                    guard version == 1 else {
                        throw ASN1Error.invalidASN1Object(reason: "certs-only SignedData version \(version) is not 1")
                    }
                    guard let digests = fields.next(), digests.identifier == .set, let encapsulated = fields.next(),
                        encapsulated.identifier == .sequence
                    else {
                        throw ASN1Error.invalidASN1Object(reason: "SignedData without digestAlgorithms and content")
                    }
                    var certificates: [Certificate] = []
                    var signerInfos: ASN1Node?
                    while let field = fields.next() {
                        switch field.identifier {
                        case Self.certificatesTag:
                            guard case .constructed(let members) = field.content else {
                                throw ASN1Error.invalidASN1Object(reason: "certificates is not constructed")
                            }
                            certificates = try members.map { try Certificate(derEncoded: $0) }
                        case Self.crlsTag:
                            continue
                        case .set:
                            signerInfos = field
                        default:
                            throw ASN1Error.unexpectedFieldType(field.identifier)
                        }
                    }
                    guard let signerInfos, case .constructed(let signers) = signerInfos.content,
                        signers.first(where: { _ in true }) == nil
                    else {
                        throw ASN1Error.invalidASN1Object(reason: "a certs-only message has no signers")
                    }
                    return CertsOnlyCMS(certificates: certificates)
                }
            }
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(FleetkeyOID.cmsSignedData)
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    try coder.serialize(1)
                    try coder.appendConstructedNode(identifier: .set) { _ in }
                    try coder.appendConstructedNode(identifier: .sequence) { coder in
                        try coder.serialize(FleetkeyOID.cmsData)
                    }
                    try coder.serializeSetOf(certificates, identifier: Self.certificatesTag)
                    try coder.appendConstructedNode(identifier: .set) { _ in }
                }
            }
        }
    }

    /// The DER encoding.
    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
