import SwiftASN1
import X509

/// The outer shape X.509 gives every signed object (RFC 5280 §4.1.1 and §5.1.1), which CRLs and deny lists share:
///
/// ```
/// SEQUENCE { tbs <ToBeSigned>, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
/// ```
/// The signature covers the exact DER of `tbs`, kept as the bytes that were signed or parsed.
enum SignedStructure {
    /// The DER of `tbs` and a signature over it.
    static func sign(
        _ tbs: some DERSerializable, with key: Certificate.PrivateKey, algorithm: Certificate.SignatureAlgorithm
    )
        throws -> (tbsBytes: ArraySlice<UInt8>, signature: [UInt8])
    {
        var serializer = DER.Serializer()
        try serializer.serialize(tbs)
        let bytes = serializer.serializedBytes
        return (bytes[...], try key.sign(bytes: bytes, signatureAlgorithm: algorithm).rawRepresentation)
    }

    /// Splits a signed object into its decoded `tbs`, the exact `tbs` bytes, the algorithm and the signature.
    static func parse<TBS>(
        _ rootNode: ASN1Node, identifier: ASN1Identifier, what: String, tbs decode: (ASN1Node) throws -> TBS
    ) throws -> (tbs: TBS, tbsBytes: ArraySlice<UInt8>, algorithm: SignatureAlgorithmIdentifier, signature: [UInt8]) {
        try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard let tbsNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "empty \(what)") }
            let tbs = try decode(tbsNode)
            let algorithm = try SignatureAlgorithmIdentifier(derEncoded: &nodes)
            let signature = try ASN1BitString(derEncoded: &nodes)
            return (tbs, tbsNode.encodedBytes, algorithm, Array(signature.bytes))
        }
    }

    static func serialize(
        tbsBytes: ArraySlice<UInt8>, algorithm: SignatureAlgorithmIdentifier, signature: [UInt8],
        into coder: inout DER.Serializer, identifier: ASN1Identifier
    ) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            coder.serializeRawBytes(tbsBytes)
            try coder.serialize(algorithm)
            try coder.serialize(ASN1BitString(bytes: signature[...]))
        }
    }

    static func isValid(
        signature: [UInt8], algorithm: SignatureAlgorithmIdentifier, over tbsBytes: ArraySlice<UInt8>,
        by key: Certificate.PublicKey
    ) -> Bool {
        guard let algorithm = algorithm.signatureAlgorithm else { return false }
        return key.isValidSignature(signature, for: tbsBytes, signatureAlgorithm: algorithm)
    }
}

extension DERSerializable {
    /// The DER encoding.
    func derEncoded() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
