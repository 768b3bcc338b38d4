import Foundation
import SwiftASN1
import X509

/// The signed part of a deny list (docs/revocation.md, "Deny lists"):
///
/// ```
/// TBSDenyList ::= SEQUENCE {
///     version      INTEGER { v1(1) },
///     signature    AlgorithmIdentifier,          -- as in the outer DenyList
///     issuer       Name,                         -- the vendor CA that revoked the entries
///     number       INTEGER,                      -- the registry's event sequence this list is complete up to
///     baseNumber   [0] EXPLICIT INTEGER OPTIONAL, -- a delta: the entries revoked after list `baseNumber`
///     thisUpdate   Time,
///     nextUpdate   Time,
///     entries      SEQUENCE OF DenyListEntry }   -- sorted by device, then certificate serial
/// ```
/// Numbers only grow, so a relying party keeps the highest it has applied and asks for the delta from there.
public struct TBSDenyList: Hashable, Sendable, DERImplicitlyTaggable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public static let version = 1

    public var signature: SignatureAlgorithmIdentifier
    public var issuer: DistinguishedName
    public var number: Int64
    public var baseNumber: Int64?
    public var thisUpdate: Date
    public var nextUpdate: Date
    public var entries: [DenyListEntry]

    public init(
        signature: SignatureAlgorithmIdentifier, issuer: DistinguishedName, number: Int64, baseNumber: Int64?,
        thisUpdate: Date, nextUpdate: Date, entries: [DenyListEntry]
    ) {
        self.signature = signature
        self.issuer = issuer
        self.number = number
        self.baseNumber = baseNumber
        self.thisUpdate = Date(timeIntervalSince1970: thisUpdate.timeIntervalSince1970.rounded(.down))
        self.nextUpdate = Date(timeIntervalSince1970: nextUpdate.timeIntervalSince1970.rounded(.down))
        self.entries = entries.sorted { a, b in
            a.device != b.device
                ? a.device < b.device : a.certificateSerial.lexicographicallyPrecedes(b.certificateSerial)
        }
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard try Int(derEncoded: &nodes) == Self.version else {
                throw ASN1Error.invalidASN1Object(reason: "deny list version is not v1")
            }
            let signature = try SignatureAlgorithmIdentifier(derEncoded: &nodes)
            let issuer = try DistinguishedName(derEncoded: &nodes)
            let number = try Int64(derEncoded: &nodes)
            let base = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try Int64(derEncoded: $0)
            }
            guard let thisNode = nodes.next(), let nextNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "deny list without thisUpdate and nextUpdate")
            }
            let entries = try DER.sequence(of: DenyListEntry.self, identifier: .sequence, nodes: &nodes)
            return TBSDenyList(
                signature: signature, issuer: issuer, number: number, baseNumber: base,
                thisUpdate: try X509Time(derEncoded: thisNode).date,
                nextUpdate: try X509Time(derEncoded: nextNode).date,
                entries: entries)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(Self.version)
            try coder.serialize(signature)
            try coder.serialize(issuer)
            try coder.serialize(number)
            if let baseNumber {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) {
                    try $0.serialize(baseNumber)
                }
            }
            try coder.serialize(try X509Time(thisUpdate))
            try coder.serialize(try X509Time(nextUpdate))
            try coder.serializeSequenceOf(entries)
        }
    }
}
