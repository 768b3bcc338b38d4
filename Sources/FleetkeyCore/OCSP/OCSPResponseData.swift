import Foundation
import SwiftASN1
import X509

/// The signed content of a basic response, RFC 6960 §4.2.1.
///
/// ```
/// ResponseData ::= SEQUENCE {
///     version              [0] EXPLICIT Version DEFAULT v1,
///     responderID              ResponderID,
///     producedAt               GeneralizedTime,
///     responses                SEQUENCE OF SingleResponse,
///     responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
/// ```
/// As in a TBSRequest, v1 is the only version and DER omits the DEFAULT, so any `[0]` is refused. producedAt is
/// when the responder signed; a response answers at least one certificate. responseExtensions carry the echoed
/// nonce (RFC 9654 §2.1) when the request had one.
public struct OCSPResponseData: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var responderID: OCSPResponderID
    public var producedAt: GeneralizedTime
    public var responses: [OCSPSingleResponse]
    public var responseExtensions: Certificate.Extensions?

    public init(
        responderID: OCSPResponderID, producedAt: GeneralizedTime, responses: [OCSPSingleResponse],
        responseExtensions: Certificate.Extensions? = nil
    ) {
        self.responderID = responderID
        self.producedAt = producedAt
        self.responses = responses
        self.responseExtensions = responseExtensions
    }

    public var producedAtDate: Date { OCSPTime.date(producedAt) }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try DER.decodeDefaultExplicitlyTagged(
                &nodes, tagNumber: 0, tagClass: .contextSpecific, defaultValue: 0
            ) { try Int(derEncoded: $0) }
            guard version == 0 else {
                throw ASN1Error.invalidASN1Object(reason: "OCSP ResponseData version \(version) is not v1(0)")
            }
            guard let responderNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "ResponseData has no responderID")
            }
            let responderID = try OCSPResponderID(derEncoded: responderNode)
            let producedAt = try GeneralizedTime(derEncoded: &nodes)
            let responses = try DER.sequence(of: OCSPSingleResponse.self, identifier: .sequence, nodes: &nodes)
            guard !responses.isEmpty else {
                throw ASN1Error.invalidASN1Object(reason: "ResponseData answers no certificate")
            }
            let extensions = try OCSPExtensionsField.parse(&nodes, tagNumber: 1)
            return OCSPResponseData(
                responderID: responderID, producedAt: producedAt, responses: responses, responseExtensions: extensions)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(responderID)
            try coder.serialize(producedAt)
            try coder.serializeSequenceOf(responses)
            try OCSPExtensionsField.serialize(responseExtensions, into: &coder, tagNumber: 1)
        }
    }
}
