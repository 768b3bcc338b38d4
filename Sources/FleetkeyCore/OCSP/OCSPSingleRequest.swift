import SwiftASN1
import X509

/// One certificate a request asks about, RFC 6960 §4.1.1.
///
/// ```
/// Request         ::=     SEQUENCE {
///     reqCert                     CertID,
///     singleRequestExtensions     [0] EXPLICIT Extensions OPTIONAL }
/// ```
/// RFC 6960 §4.4 defines no single-request extension Fleetkey acts on (the service locator is for forwarding
/// responders); they are kept as read, and an unknown critical one makes the request malformed.
public struct OCSPSingleRequest: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var certID: OCSPCertID
    public var singleRequestExtensions: Certificate.Extensions?

    public init(certID: OCSPCertID, singleRequestExtensions: Certificate.Extensions? = nil) {
        self.certID = certID
        self.singleRequestExtensions = singleRequestExtensions
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let certID = try OCSPCertID(derEncoded: &nodes)
            let extensions = try OCSPExtensionsField.parse(&nodes, tagNumber: 0)
            return OCSPSingleRequest(certID: certID, singleRequestExtensions: extensions)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(certID)
            try OCSPExtensionsField.serialize(singleRequestExtensions, into: &coder, tagNumber: 0)
        }
    }
}
