import Foundation
import SwiftASN1

/// One revoked device identity in a deny list (docs/revocation.md, "Deny lists"):
///
/// ```
/// DenyListEntry ::= SEQUENCE {
///     device             UTF8String,                -- the device serial, as in the certificate's serialNumber
///     certificateSerial  CertificateSerialNumber,   -- which of its certificates (RFC 5280 §4.1.2.2)
///     revocationDate     Time,                      -- UTCTime until 2049, as RFC 5280 §4.1.2.5
///     reason             ENUMERATED }               -- CRLReason (RFC 5280 §5.3.1)
/// ```
/// A relying party that knows only the device serial of its peer (from the peer's certificate subject) can refuse
/// it without parsing a CRL; one that knows the certificate serial can be exact.
public struct DenyListEntry: Hashable, Sendable, DERImplicitlyTaggable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var device: String
    /// The serial number's DER content octets.
    public var certificateSerial: [UInt8]
    public var revocationDate: Date
    public var reason: RevocationReason

    public init(device: String, certificateSerial: [UInt8], revocationDate: Date, reason: RevocationReason) {
        self.device = device
        self.certificateSerial = certificateSerial
        self.revocationDate = Date(timeIntervalSince1970: revocationDate.timeIntervalSince1970.rounded(.down))
        self.reason = reason
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let device = try ASN1UTF8String(derEncoded: &nodes)
            let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
            guard let timeNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "deny-list entry without revocationDate")
            }
            let date = try X509Time(derEncoded: timeNode).date
            guard let codeNode = nodes.next(), codeNode.identifier == .enumerated,
                case .primitive(let bytes) = codeNode.content, bytes.count == 1,
                let reason = RevocationReason(rawValue: Int(bytes.first!))
            else {
                throw ASN1Error.invalidASN1Object(reason: "deny-list entry without a known CRLReason")
            }
            return DenyListEntry(
                device: String(device), certificateSerial: Array(serial), revocationDate: date, reason: reason)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(ASN1UTF8String(device))
            try coder.serialize(certificateSerial[...])
            try coder.serialize(try X509Time(revocationDate))
            coder.appendPrimitiveNode(identifier: .enumerated) { $0.append(UInt8(reason.rawValue)) }
        }
    }
}
