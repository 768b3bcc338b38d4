import SwiftASN1
import X509

/// A secure element's signed statement about a key it holds: that the key was generated inside the element and
/// can never leave it. A verifier that trusts the element's attestation key checks it with
/// ``KeyAttestationVerifier`` and so knows the key was born inside.
///
/// The encoding is DER, so the bytes signed are canonical by construction (X.690 §10), and it mirrors the shape
/// of an X.509 certificate (RFC 5280 §4.1.1.3): the signature covers the exact DER of the statement.
///
/// ```
/// FleetkeyKeyAttestation ::= SEQUENCE {
///     statement           KeyAttestationStatement,
///     signatureAlgorithm  OBJECT IDENTIFIER,  -- ecdsa-with-SHA256 or ecdsa-with-SHA384 (RFC 5758 §3.2)
///     signature           BIT STRING }        -- ECDSA-Sig-Value (RFC 3279 §2.2.3) over the statement's DER
///
/// KeyAttestationStatement ::= SEQUENCE {
///     version              INTEGER { v1(1) },
///     elementID            UTF8String,
///     slot                 INTEGER (0..15),
///     purpose              UTF8String,            -- device-identity, operational, application
///     subjectPublicKeyInfo SubjectPublicKeyInfo,  -- RFC 5280 §4.1.2.7: the attested key
///     generatedOnElement   BOOLEAN,               -- made inside (PKCS#11 CKA_LOCAL), never imported
///     neverExtractable     BOOLEAN,               -- cannot leave (CKA_NEVER_EXTRACTABLE and not CKA_EXTRACTABLE)
///     slotLocked           BOOLEAN,
///     nonce                OCTET STRING (SIZE (0..64)) }  -- the verifier's challenge
/// ```
public struct KeyAttestation: Sendable, Hashable {
    /// What the element says about the key.
    public struct Statement: Sendable, Hashable {
        public static let version = 1
        public static let maximumNonceLength = 64

        public var elementID: String
        public var slot: Int
        public var purpose: SecureElementSlotPurpose
        public var publicKey: Certificate.PublicKey
        public var generatedOnElement: Bool
        public var neverExtractable: Bool
        public var slotLocked: Bool
        public var nonce: [UInt8]

        public init(
            elementID: String, slot: Int, purpose: SecureElementSlotPurpose, publicKey: Certificate.PublicKey,
            generatedOnElement: Bool, neverExtractable: Bool, slotLocked: Bool, nonce: [UInt8]
        ) throws {
            guard nonce.count <= Self.maximumNonceLength else {
                throw FleetkeyError(
                    .invalidArgument,
                    "an attestation nonce has at most \(Self.maximumNonceLength) bytes, not \(nonce.count)")
            }
            self.elementID = elementID
            self.slot = slot
            self.purpose = purpose
            self.publicKey = publicKey
            self.generatedOnElement = generatedOnElement
            self.neverExtractable = neverExtractable
            self.slotLocked = slotLocked
            self.nonce = nonce
        }
    }

    public let statement: Statement
    /// The exact bytes the signature covers.
    public let statementDER: [UInt8]
    public let signatureAlgorithm: Certificate.SignatureAlgorithm
    /// The DER ECDSA-Sig-Value.
    public let signature: [UInt8]

    /// Signs a statement: `sign` is the element's attestation key at work, inside the element.
    public init(
        statement: Statement, signatureAlgorithm: Certificate.SignatureAlgorithm,
        sign: ([UInt8]) throws -> Certificate.Signature
    ) throws {
        _ = try Self.oid(for: signatureAlgorithm)
        self.statement = statement
        self.statementDER = try Self.encode(statement)
        self.signatureAlgorithm = signatureAlgorithm
        self.signature = try sign(statementDER).rawRepresentation
    }

    /// Decodes a DER attestation. Decoding checks structure only; ``KeyAttestationVerifier`` checks the signature.
    public init(derEncoded bytes: [UInt8]) throws {
        do {
            let root = try DER.parse(bytes)
            (statement, statementDER, signatureAlgorithm, signature) = try DER.sequence(root, identifier: .sequence) {
                nodes in
                guard let statementNode = nodes.next() else {
                    throw ASN1Error.invalidASN1Object(reason: "attestation has no statement")
                }
                let statement = try Self.decodeStatement(statementNode)
                let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
                let bits = try ASN1BitString(derEncoded: &nodes)
                guard bits.paddingBits == 0 else {
                    throw ASN1Error.invalidASN1Object(reason: "signature has padding bits")
                }
                return (statement, Array(statementNode.encodedBytes), try Self.algorithm(for: oid), Array(bits.bytes))
            }
        } catch let error as FleetkeyError {
            throw error
        } catch {
            throw FleetkeyError(
                .malformedInput, "the key attestation is not a valid DER FleetkeyKeyAttestation: \(error)")
        }
    }

    /// The attestation's DER encoding.
    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(statementDER)
            try coder.serialize(try Self.oid(for: signatureAlgorithm))
            try coder.serialize(ASN1BitString(bytes: signature[...]))
        }
        return serializer.serializedBytes
    }

    // MARK: Encoding

    static func encode(_ statement: Statement) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(Statement.version)
            try coder.serialize(ASN1UTF8String(statement.elementID))
            try coder.serialize(statement.slot)
            try coder.serialize(ASN1UTF8String(statement.purpose.rawValue))
            try coder.serialize(statement.publicKey)
            try coder.serialize(statement.generatedOnElement)
            try coder.serialize(statement.neverExtractable)
            try coder.serialize(statement.slotLocked)
            try coder.serialize(ASN1OctetString(contentBytes: statement.nonce[...]))
        }
        return serializer.serializedBytes
    }

    static func decodeStatement(_ node: ASN1Node) throws -> Statement {
        try DER.sequence(node, identifier: .sequence) { nodes in
            let version = try Int(derEncoded: &nodes)
            guard version == Statement.version else {
                throw FleetkeyError(.malformedInput, "key attestation version \(version) is not supported (expected 1)")
            }
            let elementID = String(try ASN1UTF8String(derEncoded: &nodes))
            let slot = try Int(derEncoded: &nodes)
            let purposeText = String(try ASN1UTF8String(derEncoded: &nodes))
            guard let purpose = SecureElementSlotPurpose(rawValue: purposeText) else {
                throw FleetkeyError(.malformedInput, "key attestation names an unknown slot purpose '\(purposeText)'")
            }
            let publicKey = try Certificate.PublicKey(derEncoded: &nodes)
            let generated = try Bool(derEncoded: &nodes)
            let neverExtractable = try Bool(derEncoded: &nodes)
            let locked = try Bool(derEncoded: &nodes)
            let nonce = Array(try ASN1OctetString(derEncoded: &nodes).bytes)
            return try Statement(
                elementID: elementID, slot: slot, purpose: purpose, publicKey: publicKey, generatedOnElement: generated,
                neverExtractable: neverExtractable, slotLocked: locked, nonce: nonce)
        }
    }

    /// ecdsa-with-SHA256 and ecdsa-with-SHA384, RFC 5758 §3.2.
    static func oid(for algorithm: Certificate.SignatureAlgorithm) throws -> ASN1ObjectIdentifier {
        switch algorithm {
        case .ecdsaWithSHA256: [1, 2, 840, 10045, 4, 3, 2]
        case .ecdsaWithSHA384: [1, 2, 840, 10045, 4, 3, 3]
        default:
            throw FleetkeyError(
                .algorithmNotAllowed,
                "key attestations are signed with ecdsa-with-SHA256 or ecdsa-with-SHA384, not \(algorithm)")
        }
    }

    static func algorithm(for oid: ASN1ObjectIdentifier) throws -> Certificate.SignatureAlgorithm {
        switch oid {
        case [1, 2, 840, 10045, 4, 3, 2]: .ecdsaWithSHA256
        case [1, 2, 840, 10045, 4, 3, 3]: .ecdsaWithSHA384
        default: throw FleetkeyError(.algorithmNotAllowed, "key attestation signed with unsupported algorithm \(oid)")
        }
    }
}
