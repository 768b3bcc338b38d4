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
    public init(signing tbs: TBSCertList, with key: Certificate.PrivateKey, algorithm: Certificate.SignatureAlgorithm) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(tbs)
        let bytes = serializer.serializedBytes
        let signature = try key.sign(bytes: bytes, signatureAlgorithm: algorithm)
        self.tbsCertList = tbs
        self.tbsBytes = bytes[...]
        self.signatureAlgorithm = tbs.signature
        self.signatureValue = signature.rawRepresentation
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        let parsed = try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard let tbsNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "empty CRL") }
            let tbs = try TBSCertList(derEncoded: tbsNode)
            let algorithm = try SignatureAlgorithmIdentifier(derEncoded: &nodes)
            let signature = try ASN1BitString(derEncoded: &nodes)
            return (tbs, tbsNode.encodedBytes, algorithm, Array(signature.bytes))
        }
        (tbsCertList, tbsBytes, signatureAlgorithm, signatureValue) = parsed
        guard signatureAlgorithm == tbsCertList.signature else {
            throw ASN1Error.invalidASN1Object(reason: "CRL signatureAlgorithm differs from tbsCertList.signature (RFC 5280 §5.1.1.2)")
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

    /// Whether `issuer` signed this CRL.
    public func isSignatureValid(issuer: Certificate) -> Bool {
        guard let algorithm = signatureAlgorithm.signatureAlgorithm else { return false }
        return issuer.publicKey.isValidSignature(signatureValue, for: tbsBytes, signatureAlgorithm: algorithm)
    }
}
