import Foundation
import SwiftASN1
import X509

/// The signed part of a CRL, RFC 5280 §5.1.2:
///
/// ```
/// TBSCertList  ::=  SEQUENCE  {
///      version                 Version OPTIONAL,  -- if present, MUST be v2
///      signature               AlgorithmIdentifier,
///      issuer                  Name,
///      thisUpdate              Time,
///      nextUpdate              Time OPTIONAL,
///      revokedCertificates     SEQUENCE OF SEQUENCE { ... } OPTIONAL,
///      crlExtensions           [0] EXPLICIT Extensions OPTIONAL }  -- if present, version MUST be v2
/// ```
/// Fleetkey always writes v2 with nextUpdate, authorityKeyIdentifier and cRLNumber (§5.2.1, §5.2.3, both
/// required of conforming CAs), and omits revokedCertificates when there are none (§5.1.2.6).
public struct TBSCertList: Hashable, Sendable, DERImplicitlyTaggable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }
    public static let cRLNumberOID: ASN1ObjectIdentifier = [2, 5, 29, 20]

    public var signature: SignatureAlgorithmIdentifier
    public var issuer: DistinguishedName
    public var thisUpdate: Date
    public var nextUpdate: Date
    public var revokedCertificates: [RevokedCertificate]
    public var extensions: [Certificate.Extension]

    public init(
        signature: SignatureAlgorithmIdentifier, issuer: DistinguishedName, thisUpdate: Date, nextUpdate: Date,
        revokedCertificates: [RevokedCertificate], extensions: [Certificate.Extension]
    ) {
        self.signature = signature
        self.issuer = issuer
        self.thisUpdate = Date(timeIntervalSince1970: thisUpdate.timeIntervalSince1970.rounded(.down))
        self.nextUpdate = Date(timeIntervalSince1970: nextUpdate.timeIntervalSince1970.rounded(.down))
        self.revokedCertificates = revokedCertificates
        self.extensions = extensions
    }

    /// The cRLNumber extension's value (a non-negative INTEGER of at most 20 octets, §5.2.3), if present.
    public var crlNumber: Int64? {
        guard let ext = extensions.first(where: { $0.oid == Self.cRLNumberOID }) else { return nil }
        return try? Int64(derEncoded: ext.value)
    }

    public static func crlNumberExtension(_ number: Int64) throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.serialize(number)
        return Certificate.Extension(oid: cRLNumberOID, critical: false, value: serializer.serializedBytes[...])
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try Int(derEncoded: &nodes)
            guard version == 1 else { throw ASN1Error.invalidASN1Object(reason: "CRL version \(version) is not v2") }
            let signature = try SignatureAlgorithmIdentifier(derEncoded: &nodes)
            guard let issuerNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "CRL without issuer") }
            let issuer = try DistinguishedName(derEncoded: issuerNode)
            guard let thisNode = nodes.next(), let nextNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "CRL without thisUpdate and nextUpdate")
            }
            let thisUpdate = try X509Time(derEncoded: thisNode).date
            let nextUpdate = try X509Time(derEncoded: nextNode).date
            var revoked: [RevokedCertificate] = []
            var extensions: [Certificate.Extension] = []
            while let node = nodes.next() {
                if node.identifier == .sequence {
                    revoked = try DER.sequence(of: RevokedCertificate.self, identifier: .sequence, rootNode: node)
                } else if node.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
                    guard case .constructed(let inner) = node.content, let sequence = inner.first(where: { _ in true })
                    else {
                        throw ASN1Error.invalidASN1Object(reason: "empty crlExtensions")
                    }
                    extensions = try DER.sequence(
                        of: Certificate.Extension.self, identifier: .sequence, rootNode: sequence)
                } else {
                    throw ASN1Error.unexpectedFieldType(node.identifier)
                }
            }
            return TBSCertList(
                signature: signature, issuer: issuer, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
                revokedCertificates: revoked, extensions: extensions)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(1)  // v2
            try coder.serialize(signature)
            try coder.serialize(issuer)
            try coder.serialize(try X509Time(thisUpdate))
            try coder.serialize(try X509Time(nextUpdate))
            if !revokedCertificates.isEmpty {
                try coder.serializeSequenceOf(revokedCertificates)
            }
            if !extensions.isEmpty {
                try coder.appendConstructedNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) {
                    coder in
                    try coder.serializeSequenceOf(extensions)
                }
            }
        }
    }
}
