import Foundation
import SwiftASN1
import X509

/// A signed deny list: the revoked device identities of one vendor CA, complete or as a delta, for relying parties
/// too constrained for CRLs or OCSP (docs/revocation.md, "Deny lists"). Shaped like a CRL (RFC 5280 §5.1), and
/// signed by the same CA key:
///
/// ```
/// DenyList ::= SEQUENCE {
///     tbsDenyList         TBSDenyList,
///     signatureAlgorithm  AlgorithmIdentifier,
///     signatureValue      BIT STRING }
/// ```
/// The signature covers the exact DER of `tbsDenyList`.
public struct DenyList: Hashable, Sendable, DERImplicitlyTaggable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public let tbs: TBSDenyList
    public let tbsBytes: ArraySlice<UInt8>
    public let signatureAlgorithm: SignatureAlgorithmIdentifier
    public let signatureValue: [UInt8]

    /// Signs `tbs` with `key`, whose algorithm must match `tbs.signature`.
    public init(signing tbs: TBSDenyList, with key: Certificate.PrivateKey, algorithm: Certificate.SignatureAlgorithm)
        throws
    {
        var serializer = DER.Serializer()
        try serializer.serialize(tbs)
        let bytes = serializer.serializedBytes
        self.tbs = tbs
        self.tbsBytes = bytes[...]
        self.signatureAlgorithm = tbs.signature
        self.signatureValue = try key.sign(bytes: bytes, signatureAlgorithm: algorithm).rawRepresentation
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        (tbs, tbsBytes, signatureAlgorithm, signatureValue) = try DER.sequence(rootNode, identifier: identifier) {
            nodes in
            guard let tbsNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "empty deny list") }
            let tbs = try TBSDenyList(derEncoded: tbsNode)
            let algorithm = try SignatureAlgorithmIdentifier(derEncoded: &nodes)
            let signature = try ASN1BitString(derEncoded: &nodes)
            return (tbs, tbsNode.encodedBytes, algorithm, Array(signature.bytes))
        }
        guard signatureAlgorithm == tbs.signature else {
            throw ASN1Error.invalidASN1Object(reason: "deny list signatureAlgorithm differs from tbsDenyList.signature")
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            coder.serializeRawBytes(tbsBytes)
            try coder.serialize(signatureAlgorithm)
            try coder.serialize(ASN1BitString(bytes: signatureValue[...]))
        }
    }

    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }

    /// Whether `issuer` signed this list, and named itself as its issuer.
    public func isSignatureValid(issuer: Certificate) -> Bool {
        guard tbs.issuer == issuer.subject, let algorithm = signatureAlgorithm.signatureAlgorithm else { return false }
        return issuer.publicKey.isValidSignature(signatureValue, for: tbsBytes, signatureAlgorithm: algorithm)
    }
}
