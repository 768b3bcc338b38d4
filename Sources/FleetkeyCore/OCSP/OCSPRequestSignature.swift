import SwiftASN1
import X509

/// A requestor's optional signature over a TBSRequest, RFC 6960 §4.1.1.
///
/// ```
/// Signature       ::=     SEQUENCE {
///     signatureAlgorithm      AlgorithmIdentifier,
///     signature               BIT STRING,
///     certs               [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
/// Fleetkey's responder answers unsigned requests (RFC 5019 §2.1.2 says clients of a high-volume responder do not
/// sign) and does not check these signatures; the structure is still read strictly so that a signed request
/// parses and a malformed one does not. The algorithm is kept as its raw DER, since a requestor may sign with
/// an algorithm Fleetkey never uses.
public struct OCSPRequestSignature: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The AlgorithmIdentifier SEQUENCE, checked for shape (an OID, then at most one parameters element).
    public var signatureAlgorithm: ASN1Any
    public var signature: ASN1BitString
    public var certificates: [Certificate]?

    public init(signatureAlgorithm: ASN1Any, signature: ASN1BitString, certificates: [Certificate]? = nil) {
        self.signatureAlgorithm = signatureAlgorithm
        self.signature = signature
        self.certificates = certificates
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard let algorithmNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "request Signature has no signatureAlgorithm")
            }
            try DER.sequence(algorithmNode, identifier: .sequence) { parts in
                _ = try ASN1ObjectIdentifier(derEncoded: &parts)
                _ = parts.next()
            }
            let signature = try ASN1BitString(derEncoded: &nodes)
            let certificates = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try DER.sequence(of: Certificate.self, identifier: .sequence, rootNode: $0)
            }
            return OCSPRequestSignature(
                signatureAlgorithm: ASN1Any(derEncoded: algorithmNode), signature: signature, certificates: certificates
            )
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(signatureAlgorithm)
            try coder.serialize(signature)
            if let certificates {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try coder.serializeSequenceOf(certificates)
                }
            }
        }
    }
}
