import X509

/// Checks a ``KeyAttestation`` against an attestation key the verifier already trusts.
///
/// Trust in the attestation key itself comes from outside the statement (the element maker's records, or a
/// manifest signed by the vendor); this verifier answers the next question: did that element sign this statement
/// for this challenge, and does the statement say the key was born inside and cannot leave?
public struct KeyAttestationVerifier: Sendable {
    public let attestationKey: Certificate.PublicKey

    public init(trusting attestationKey: Certificate.PublicKey) {
        self.attestationKey = attestationKey
    }

    /// What the verifier requires beyond a good signature.
    public struct Expectations: Sendable {
        /// The challenge the verifier sent; the statement must carry exactly these bytes.
        public var nonce: [UInt8]
        public var elementID: String?
        public var slot: Int?
        /// The key the verifier expects to be attested (for example, the key of a certificate request).
        public var publicKey: Certificate.PublicKey?
        /// Whether the slot must already be locked (true for a device leaving the factory).
        public var requireLocked: Bool

        public init(
            nonce: [UInt8], elementID: String? = nil, slot: Int? = nil, publicKey: Certificate.PublicKey? = nil,
            requireLocked: Bool = false
        ) {
            self.nonce = nonce
            self.elementID = elementID
            self.slot = slot
            self.publicKey = publicKey
            self.requireLocked = requireLocked
        }
    }

    /// Returns the verified statement, or throws `.attestationRejected` naming the first check that failed.
    @discardableResult
    public func verify(_ attestation: KeyAttestation, _ expected: Expectations) throws -> KeyAttestation.Statement {
        let statement = attestation.statement
        let what = "key attestation from secure element '\(statement.elementID)' slot \(statement.slot)"
        guard
            attestationKey.isValidSignature(
                attestation.signature, for: attestation.statementDER, signatureAlgorithm: attestation.signatureAlgorithm
            )
        else {
            throw FleetkeyError(
                .attestationRejected,
                "the \(what) is not signed by the trusted attestation key: it was altered, or another element made it")
        }
        guard statement.nonce == expected.nonce else {
            throw FleetkeyError(
                .attestationRejected, "the \(what) answers another challenge (nonce): it may be a replay")
        }
        if let elementID = expected.elementID, elementID != statement.elementID {
            throw FleetkeyError(.attestationRejected, "the \(what) is about another element than '\(elementID)'")
        }
        if let slot = expected.slot, slot != statement.slot {
            throw FleetkeyError(.attestationRejected, "the \(what) is about another slot than \(slot)")
        }
        if let key = expected.publicKey, key != statement.publicKey {
            throw FleetkeyError(.attestationRejected, "the \(what) attests another key than the one expected")
        }
        guard statement.generatedOnElement else {
            throw FleetkeyError(
                .attestationRejected, "the \(what) says the key was not generated inside the element (it was imported)")
        }
        guard statement.neverExtractable else {
            throw FleetkeyError(.attestationRejected, "the \(what) says the key can leave the element")
        }
        if expected.requireLocked, !statement.slotLocked {
            throw FleetkeyError(.attestationRejected, "the \(what) says the slot is not locked yet")
        }
        return statement
    }
}
