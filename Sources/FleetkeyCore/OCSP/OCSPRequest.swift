import SwiftASN1
import X509

/// An OCSP request, RFC 6960 §4.1.1: what a relying party posts (or GETs, base64 in the URL) to the responder.
///
/// ```
/// OCSPRequest     ::=     SEQUENCE {
///     tbsRequest                  TBSRequest,
///     optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
/// ```
/// The exact DER of `tbsRequest` is kept, as read, because a signature (if any) covers those bytes.
public struct OCSPRequest: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public let tbsRequest: OCSPTBSRequest
    /// The DER of `tbsRequest`: the bytes read, or those written when the request was built.
    public let tbsRequestBytes: ArraySlice<UInt8>
    public let optionalSignature: OCSPRequestSignature?

    /// An unsigned request, as RFC 5019 §2.1.2 profiles it.
    public init(tbsRequest: OCSPTBSRequest) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(tbsRequest)
        self.tbsRequest = tbsRequest
        self.tbsRequestBytes = serializer.serializedBytes[...]
        self.optionalSignature = nil
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        (tbsRequest, tbsRequestBytes, optionalSignature) = try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard let tbsNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "OCSPRequest has no tbsRequest")
            }
            let tbs = try OCSPTBSRequest(derEncoded: tbsNode)
            let signature = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try OCSPRequestSignature(derEncoded: $0)
            }
            return (tbs, tbsNode.encodedBytes, signature)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            coder.serializeRawBytes(tbsRequestBytes)
            if let optionalSignature {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try coder.serialize(optionalSignature)
                }
            }
        }
    }

    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
