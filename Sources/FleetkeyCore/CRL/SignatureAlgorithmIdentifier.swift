import SwiftASN1
import X509

/// The AlgorithmIdentifier of a signature, for structures Fleetkey signs itself (CRLs, OCSP responses).
///
/// ```
/// AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY DEFINED BY algorithm OPTIONAL }
/// ```
/// ECDSA (RFC 5758 §3.2) and Ed25519 (RFC 8410 §3) omit the parameters; RSA PKCS#1 v1.5 (RFC 4055 §5)
/// carries NULL. swift-certificates keeps its own AlgorithmIdentifier internal, hence this mapping.
public struct SignatureAlgorithmIdentifier: Hashable, Sendable, DERImplicitlyTaggable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var algorithm: ASN1ObjectIdentifier
    public var nullParameters: Bool

    public init(_ algorithm: Certificate.SignatureAlgorithm) throws {
        switch algorithm {
        case .ecdsaWithSHA256: self.init(oid: [1, 2, 840, 10045, 4, 3, 2], nullParameters: false)
        case .ecdsaWithSHA384: self.init(oid: [1, 2, 840, 10045, 4, 3, 3], nullParameters: false)
        case .ecdsaWithSHA512: self.init(oid: [1, 2, 840, 10045, 4, 3, 4], nullParameters: false)
        case .ed25519: self.init(oid: [1, 3, 101, 112], nullParameters: false)
        case .sha256WithRSAEncryption: self.init(oid: [1, 2, 840, 113_549, 1, 1, 11], nullParameters: true)
        case .sha384WithRSAEncryption: self.init(oid: [1, 2, 840, 113_549, 1, 1, 12], nullParameters: true)
        case .sha512WithRSAEncryption: self.init(oid: [1, 2, 840, 113_549, 1, 1, 13], nullParameters: true)
        default:
            throw FleetkeyError(.algorithmNotAllowed, "Fleetkey does not sign with \(algorithm)")
        }
    }

    init(oid: ASN1ObjectIdentifier, nullParameters: Bool) {
        self.algorithm = oid
        self.nullParameters = nullParameters
    }

    /// The swift-certificates algorithm this identifier names, for verifying signatures.
    public var signatureAlgorithm: Certificate.SignatureAlgorithm? {
        let all: [Certificate.SignatureAlgorithm] = [
            .ecdsaWithSHA256, .ecdsaWithSHA384, .ecdsaWithSHA512, .ed25519, .sha256WithRSAEncryption,
            .sha384WithRSAEncryption, .sha512WithRSAEncryption,
        ]
        return all.first { (try? SignatureAlgorithmIdentifier($0))?.algorithm == algorithm }
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
            var null = false
            if let parameters = nodes.next() {
                _ = try ASN1Null(derEncoded: parameters)
                null = true
            }
            return SignatureAlgorithmIdentifier(oid: oid, nullParameters: null)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(algorithm)
            if nullParameters { try coder.serialize(ASN1Null()) }
        }
    }
}
