import Foundation
import SwiftASN1

/// When and why a certificate was revoked, as an OCSP response says it, RFC 6960 §4.2.1.
///
/// ```
/// RevokedInfo ::= SEQUENCE {
///     revocationTime              GeneralizedTime,
///     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
/// ```
/// CRLReason is RFC 5280 §5.3.1's ENUMERATED; a value it does not define (such as 7) is refused. Fleetkey leaves
/// the reason out rather than write `unspecified`, as RFC 5280 §5.3.1 asks of CRL entries.
public struct OCSPRevokedInfo: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var revocationTime: GeneralizedTime
    public var revocationReason: RevocationReason?

    public init(revocationTime: GeneralizedTime, revocationReason: RevocationReason?) {
        self.revocationTime = revocationTime
        self.revocationReason = revocationReason
    }

    /// The revocation at `date` (whole seconds) for `reason`, leaving out `unspecified`.
    public init(revokedAt date: Date, reason: RevocationReason?) throws {
        self.init(
            revocationTime: try OCSPTime.generalizedTime(date),
            revocationReason: reason == .unspecified ? nil : reason)
    }

    public var revocationDate: Date { OCSPTime.date(revocationTime) }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let time = try GeneralizedTime(derEncoded: &nodes)
            let reason = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { node in
                let code = try Int(derEncoded: node, withIdentifier: .enumerated)
                guard let reason = RevocationReason(rawValue: code) else {
                    throw ASN1Error.invalidASN1Object(reason: "CRLReason \(code) is not defined by RFC 5280 §5.3.1")
                }
                return reason
            }
            return OCSPRevokedInfo(revocationTime: time, revocationReason: reason)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(revocationTime)
            if let revocationReason {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try revocationReason.rawValue.serialize(into: &coder, withIdentifier: .enumerated)
                }
            }
        }
    }
}
