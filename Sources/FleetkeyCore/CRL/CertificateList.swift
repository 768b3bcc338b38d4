import Foundation
import SwiftASN1
import X509

/// A signed CRL, RFC 5280 §5.1:
///
/// ```
/// CertificateList  ::=  SEQUENCE  {
///      tbsCertList          TBSCertList,
///      signatureAlgorithm   AlgorithmIdentifier,
///      signatureValue       BIT STRING  }
/// ```
/// The signature is over the DER of `tbsCertList`, kept as the exact bytes that were signed or parsed.
public struct CertificateList: Hashable, Sendable, DERImplicitlyTaggable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public let tbsCertList: TBSCertList
    public let tbsBytes: ArraySlice<UInt8>
    public let signatureAlgorithm: SignatureAlgorithmIdentifier
    public let signatureValue: [UInt8]

    /// Signs `tbs` with `key`, whose algorithm must match `tbs.signature`.
    public init(signing tbs: TBSCertList, with key: Certificate.PrivateKey, algorithm: Certificate.SignatureAlgorithm)
        throws
    {
        self.tbsCertList = tbs
        (tbsBytes, signatureValue) = try SignedStructure.sign(tbs, with: key, algorithm: algorithm)
        self.signatureAlgorithm = tbs.signature
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        (tbsCertList, tbsBytes, signatureAlgorithm, signatureValue) = try SignedStructure.parse(
            rootNode, identifier: identifier, what: "CRL", tbs: { try TBSCertList(derEncoded: $0) })
        guard signatureAlgorithm == tbsCertList.signature else {
            throw ASN1Error.invalidASN1Object(
                reason: "CRL signatureAlgorithm differs from tbsCertList.signature (RFC 5280 §5.1.1.2)")
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try SignedStructure.serialize(
            tbsBytes: tbsBytes, algorithm: signatureAlgorithm, signature: signatureValue, into: &coder,
            identifier: identifier)
    }

    public func derBytes() throws -> [UInt8] { try derEncoded() }

    /// Whether `issuer` signed this CRL.
    public func isSignatureValid(issuer: Certificate) -> Bool {
        SignedStructure.isValid(
            signature: signatureValue, algorithm: signatureAlgorithm, over: tbsBytes, by: issuer.publicKey)
    }
}
