import Foundation
import SwiftASN1
import X509

/// One entry of a CRL, RFC 5280 §5.1.2.6:
///
/// ```
/// revokedCertificates SEQUENCE OF SEQUENCE {
///      userCertificate         CertificateSerialNumber,
///      revocationDate          Time,
///      crlEntryExtensions      Extensions OPTIONAL }
/// ```
/// Reason and invalidity date travel as entry extensions (§5.3.1, §5.3.2).
public struct RevokedCertificate: Hashable, Sendable, DERImplicitlyTaggable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The serial number's DER content octets.
    public var serial: [UInt8]
    public var revocationDate: Date
    public var reason: RevocationReason?
    public var invalidityDate: Date?

    public init(serial: [UInt8], revocationDate: Date, reason: RevocationReason?, invalidityDate: Date?) {
        self.serial = serial
        self.revocationDate = Date(timeIntervalSince1970: revocationDate.timeIntervalSince1970.rounded(.down))
        self.reason = reason
        self.invalidityDate = invalidityDate.map {
            Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down))
        }
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
            guard let timeNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "entry without revocationDate")
            }
            let date = try X509Time(derEncoded: timeNode).date
            var reason: RevocationReason?
            var invalidity: Date?
            if let extensionsNode = nodes.next() {
                let extensions = try DER.sequence(
                    of: Certificate.Extension.self, identifier: .sequence, rootNode: extensionsNode)
                for ext in extensions {
                    if ext.oid == CRLEntryExtensions.reasonCode { reason = try CRLEntryExtensions.reason(from: ext) }
                    if ext.oid == CRLEntryExtensions.invalidityDate {
                        invalidity = try CRLEntryExtensions.invalidity(from: ext)
                    }
                }
            }
            return RevokedCertificate(
                serial: Array(serial), revocationDate: date, reason: reason, invalidityDate: invalidity)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(serial[...])
            try coder.serialize(try X509Time(revocationDate))
            let writesReason = reason != nil && reason != .unspecified
            guard writesReason || invalidityDate != nil else { return }
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                if writesReason, let reason { coder.serializeRawBytes(CRLEntryExtensions.reasonExtensionDER[reason]!) }
                if let invalidityDate {
                    try coder.serialize(try CRLEntryExtensions.invalidityDateExtension(invalidityDate))
                }
            }
        }
    }
}
