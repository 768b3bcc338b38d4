import SwiftASN1
import X509

/// The part of an OCSP request that a requestor may sign, RFC 6960 §4.1.1.
///
/// ```
/// TBSRequest      ::=     SEQUENCE {
///     version             [0]     EXPLICIT Version DEFAULT v1,
///     requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
///     requestList                 SEQUENCE OF Request,
///     requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
///
/// Version         ::=             INTEGER  {  v1(0) }
/// ```
/// DER forbids writing the DEFAULT version, so a present `[0]` must hold a version other than v1, and v1 is the
/// only version there is: any `[0]` is refused. A request that asks about nothing is refused too.
public struct OCSPTBSRequest: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var requestorName: GeneralName?
    public var requestList: [OCSPSingleRequest]
    public var requestExtensions: Certificate.Extensions?

    public init(
        requestorName: GeneralName? = nil, requestList: [OCSPSingleRequest],
        requestExtensions: Certificate.Extensions? = nil
    ) {
        self.requestorName = requestorName
        self.requestList = requestList
        self.requestExtensions = requestExtensions
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try DER.decodeDefaultExplicitlyTagged(
                &nodes, tagNumber: 0, tagClass: .contextSpecific, defaultValue: 0
            ) { try Int(derEncoded: $0) }
            guard version == 0 else {
                throw ASN1Error.invalidASN1Object(reason: "OCSP request version \(version) is not v1(0)")
            }
            let requestorName = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) {
                try GeneralName(derEncoded: $0)
            }
            let list = try DER.sequence(of: OCSPSingleRequest.self, identifier: .sequence, nodes: &nodes)
            guard !list.isEmpty else {
                throw ASN1Error.invalidASN1Object(reason: "OCSP requestList names no certificate")
            }
            let extensions = try OCSPExtensionsField.parse(&nodes, tagNumber: 2)
            return OCSPTBSRequest(requestorName: requestorName, requestList: list, requestExtensions: extensions)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            if let requestorName {
                try coder.serialize(explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific) { coder in
                    try coder.serialize(requestorName)
                }
            }
            try coder.serializeSequenceOf(requestList)
            try OCSPExtensionsField.serialize(requestExtensions, into: &coder, tagNumber: 2)
        }
    }
}
