import Foundation
import SwiftASN1
import X509

/// The answer for one certificate, RFC 6960 §4.2.1.
///
/// ```
/// SingleResponse ::= SEQUENCE {
///     certID                       CertID,
///     certStatus                   CertStatus,
///     thisUpdate                   GeneralizedTime,
///     nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
///     singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
/// ```
/// `certID` repeats the request's CertID exactly (RFC 6960 §4.2.2.3 has clients match them). thisUpdate is when
/// the status was known to be right; nextUpdate when newer information will be available, which RFC 5019 §2.2.4
/// requires and which HTTP caches use for their lifetime (RFC 5019 §6.2). singleExtensions may carry the
/// CRL entry extensions of RFC 5280 §5.3, such as invalidityDate (RFC 6960 §4.4.7 lists them as allowed).
public struct OCSPSingleResponse: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var certID: OCSPCertID
    public var certStatus: OCSPCertStatus
    public var thisUpdate: GeneralizedTime
    public var nextUpdate: GeneralizedTime?
    public var singleExtensions: Certificate.Extensions?

    public init(
        certID: OCSPCertID, certStatus: OCSPCertStatus, thisUpdate: GeneralizedTime, nextUpdate: GeneralizedTime?,
        singleExtensions: Certificate.Extensions? = nil
    ) {
        self.certID = certID
        self.certStatus = certStatus
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.singleExtensions = singleExtensions
    }

    public var thisUpdateDate: Date { OCSPTime.date(thisUpdate) }
    public var nextUpdateDate: Date? { nextUpdate.map(OCSPTime.date) }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let certID = try OCSPCertID(derEncoded: &nodes)
            guard let statusNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "SingleResponse has no certStatus")
            }
            let status = try OCSPCertStatus(derEncoded: statusNode)
            let thisUpdate = try GeneralizedTime(derEncoded: &nodes)
            let nextUpdate = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try GeneralizedTime(derEncoded: $0)
            }
            let extensions = try OCSPExtensionsField.parse(&nodes, tagNumber: 1)
            return OCSPSingleResponse(
                certID: certID, certStatus: status, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
                singleExtensions: extensions)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(certID)
            try coder.serialize(certStatus)
            try coder.serialize(thisUpdate)
            if let nextUpdate {
                try coder.serialize(nextUpdate, explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
            }
            try OCSPExtensionsField.serialize(singleExtensions, into: &coder, tagNumber: 1)
        }
    }
}
