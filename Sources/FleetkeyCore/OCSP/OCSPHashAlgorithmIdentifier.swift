import SwiftASN1

/// The digest algorithm of a CertID, an AlgorithmIdentifier (RFC 5280 §4.1.1.2) with the parameters the digest
/// identifiers allow.
///
/// ```
/// AlgorithmIdentifier ::= SEQUENCE {
///     algorithm               OBJECT IDENTIFIER,
///     parameters              ANY DEFINED BY algorithm OPTIONAL }
/// ```
/// RFC 5754 §2 (and RFC 3279 §2.2.1 for SHA-1): the parameters are absent, or NULL from older implementations
/// (openssl writes NULL). Both forms are read, and which one was read is kept: a response must repeat the
/// request's CertID exactly, because clients match the two field by field. Any other parameters are refused.
public struct OCSPHashAlgorithmIdentifier: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var algorithm: ASN1ObjectIdentifier
    /// Whether the parameters are an explicit NULL rather than absent.
    public var nullParameters: Bool

    public init(algorithm: ASN1ObjectIdentifier, nullParameters: Bool) {
        self.algorithm = algorithm
        self.nullParameters = nullParameters
    }

    /// The identifier of `hash`; NULL parameters by default, as openssl writes them.
    public init(_ hash: OCSPHashAlgorithm, nullParameters: Bool = true) {
        self.init(algorithm: hash.oid, nullParameters: nullParameters)
    }

    /// The digest this identifier names, or `nil` when Fleetkey does not compute it.
    public var hashAlgorithm: OCSPHashAlgorithm? { OCSPHashAlgorithm(oid: algorithm) }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let algorithm = try ASN1ObjectIdentifier(derEncoded: &nodes)
            var null = false
            if let parameters = nodes.next() {
                guard parameters.identifier == .null else {
                    throw ASN1Error.invalidASN1Object(
                        reason: "digest AlgorithmIdentifier parameters must be absent or NULL (RFC 5754 §2)")
                }
                _ = try ASN1Null(derEncoded: parameters)
                null = true
            }
            return OCSPHashAlgorithmIdentifier(algorithm: algorithm, nullParameters: null)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(algorithm)
            if nullParameters { try coder.serialize(ASN1Null()) }
        }
    }
}
