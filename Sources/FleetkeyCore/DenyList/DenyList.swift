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
        self.tbs = tbs
        (tbsBytes, signatureValue) = try SignedStructure.sign(tbs, with: key, algorithm: algorithm)
        self.signatureAlgorithm = tbs.signature
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        (tbs, tbsBytes, signatureAlgorithm, signatureValue) = try SignedStructure.parse(
            rootNode, identifier: identifier, what: "deny list", tbs: { try TBSDenyList(derEncoded: $0) })
        guard signatureAlgorithm == tbs.signature else {
            throw ASN1Error.invalidASN1Object(reason: "deny list signatureAlgorithm differs from tbsDenyList.signature")
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try SignedStructure.serialize(
            tbsBytes: tbsBytes, algorithm: signatureAlgorithm, signature: signatureValue, into: &coder,
            identifier: identifier)
    }

    public func derBytes() throws -> [UInt8] { try derEncoded() }

    /// Whether `issuer` signed this list, and named itself as its issuer.
    public func isSignatureValid(issuer: Certificate) -> Bool {
        tbs.issuer == issuer.subject
            && SignedStructure.isValid(
                signature: signatureValue, algorithm: signatureAlgorithm, over: tbsBytes, by: issuer.publicKey)
    }
}
