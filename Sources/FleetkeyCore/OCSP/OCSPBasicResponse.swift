import SwiftASN1
import X509

/// A signed basic OCSP response, RFC 6960 §4.2.1: the body of every successful Fleetkey response.
///
/// ```
/// BasicOCSPResponse       ::= SEQUENCE {
///     tbsResponseData      ResponseData,
///     signatureAlgorithm   AlgorithmIdentifier,
///     signature            BIT STRING,
///     certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
/// The signature is over the DER of tbsResponseData, kept as the exact bytes signed or read. Fleetkey's
/// responses are signed by the vendor's delegated responder (RFC 6960 §4.2.2.2), whose certificate travels in
/// `certs` so a client holding only the CA can check it.
public struct OCSPBasicResponse: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public let responseData: OCSPResponseData
    public let responseDataBytes: ArraySlice<UInt8>
    public let signatureAlgorithm: SignatureAlgorithmIdentifier
    /// The signature value: for ECDSA the DER ECDSA-Sig-Value (RFC 3279 §2.2.3).
    public let signature: [UInt8]
    public let certificates: [Certificate]?

    /// Signs `responseData` with `key` under `algorithm`. The key may sign elsewhere (a PKCS#11 token), hence async.
    public init(
        signing responseData: OCSPResponseData, with key: Certificate.PrivateKey,
        algorithm: Certificate.SignatureAlgorithm, certificates: [Certificate]?
    ) async throws {
        var serializer = DER.Serializer()
        try serializer.serialize(responseData)
        let bytes = serializer.serializedBytes
        let signature = try await key.signAsynchronously(bytes: bytes, signatureAlgorithm: algorithm)
        self.responseData = responseData
        self.responseDataBytes = bytes[...]
        self.signatureAlgorithm = try SignatureAlgorithmIdentifier(algorithm)
        self.signature = signature.rawRepresentation
        self.certificates = certificates
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        (responseData, responseDataBytes, signatureAlgorithm, signature, certificates) = try DER.sequence(
            rootNode, identifier: identifier
        ) { nodes in
            guard let dataNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "BasicOCSPResponse has no tbsResponseData")
            }
            let data = try OCSPResponseData(derEncoded: dataNode)
            let algorithm = try SignatureAlgorithmIdentifier(derEncoded: &nodes)
            let signature = try ASN1BitString(derEncoded: &nodes)
            guard signature.paddingBits == 0 else {
                throw ASN1Error.invalidASN1Object(reason: "BasicOCSPResponse signature has unused bits")
            }
            let certificates = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try DER.sequence(of: Certificate.self, identifier: .sequence, rootNode: $0)
            }
            return (data, dataNode.encodedBytes, algorithm, Array(signature.bytes), certificates)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            coder.serializeRawBytes(responseDataBytes)
            try coder.serialize(signatureAlgorithm)
            try coder.serialize(ASN1BitString(bytes: signature[...]))
            if let certificates {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try coder.serializeSequenceOf(certificates)
                }
            }
        }
    }

    /// Whether `publicKey` made the signature over the response data.
    public func isSignature(madeBy publicKey: Certificate.PublicKey) -> Bool {
        guard let algorithm = signatureAlgorithm.signatureAlgorithm else { return false }
        return publicKey.isValidSignature(signature, for: responseDataBytes, signatureAlgorithm: algorithm)
    }
}
