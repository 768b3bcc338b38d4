import SwiftASN1
import X509

/// Which certificate a request asks about and a response answers for, RFC 6960 §4.1.1.
///
/// ```
/// CertID          ::=     SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
/// issuerNameHash is the digest of the DER of the issuer's Name; issuerKeyHash the digest of the issuer's
/// subjectPublicKey BIT STRING contents, without tag, length and unused-bits octet. When the digest is one
/// Fleetkey knows, both hashes must have its length. The serial must be a non-negative DER INTEGER
/// (RFC 5280 §4.1.2.2); it is kept as its magnitude octets, as `Certificate.SerialNumber` keeps it.
public struct OCSPCertID: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var hashAlgorithm: OCSPHashAlgorithmIdentifier
    public var issuerNameHash: [UInt8]
    public var issuerKeyHash: [UInt8]
    public var serialNumber: Certificate.SerialNumber

    public init(
        hashAlgorithm: OCSPHashAlgorithmIdentifier, issuerNameHash: [UInt8], issuerKeyHash: [UInt8],
        serialNumber: Certificate.SerialNumber
    ) {
        self.hashAlgorithm = hashAlgorithm
        self.issuerNameHash = issuerNameHash
        self.issuerKeyHash = issuerKeyHash
        self.serialNumber = serialNumber
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let algorithm = try OCSPHashAlgorithmIdentifier(derEncoded: &nodes)
            let nameHash = try ASN1OctetString(derEncoded: &nodes)
            let keyHash = try ASN1OctetString(derEncoded: &nodes)
            let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
            if let hash = algorithm.hashAlgorithm,
                nameHash.bytes.count != hash.digestLength || keyHash.bytes.count != hash.digestLength
            {
                throw ASN1Error.invalidASN1Object(
                    reason: "CertID issuerNameHash and issuerKeyHash must be \(hash.digestLength)-octet \(hash) digests"
                )
            }
            return OCSPCertID(
                hashAlgorithm: algorithm, issuerNameHash: Array(nameHash.bytes), issuerKeyHash: Array(keyHash.bytes),
                serialNumber: Certificate.SerialNumber(bytes: serial))
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(hashAlgorithm)
            try coder.serialize(ASN1OctetString(contentBytes: issuerNameHash[...]))
            try coder.serialize(ASN1OctetString(contentBytes: issuerKeyHash[...]))
            try coder.serialize(serialNumber.bytes)
        }
    }
}
