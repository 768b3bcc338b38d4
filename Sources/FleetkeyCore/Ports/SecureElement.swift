import X509

/// A secure element: a chip that makes keys inside itself, signs with them, and never lets them out.
///
/// This is the model the factory provisions and device simulation drives (DESIGN.md, "The lifecycle of one device
/// key"): a key is generated inside a slot, a PKCS#10 request is signed inside (``signingKey(inSlot:)`` hands
/// ``RequestBuilder`` a `Certificate.PrivateKey` whose signatures happen in the element), the issued certificate is
/// written back to the slot, the slot is locked, and the element's ``attest(slot:nonce:)`` statement, signed with
/// its own attestation key, tells a verifier the key was born inside. Decommissioning zeroizes the slot.
///
/// Every implementation applies the same rules (``SecureElementSlotRules``), so a PKCS#11-backed element and the
/// file-backed emulator behave alike and pass one shared test suite. Methods are synchronous because a signature
/// inside `CustomPrivateKey.signSynchronously` must be; elements serialise their own operations.
public protocol SecureElement: Sendable {
    /// The element's identity as its maker assigned it; the device's hardwareModuleName serial (RFC 4108).
    var elementID: String { get }

    /// The public half of the element's attestation key, which signs ``KeyAttestation`` statements.
    func attestationPublicKey() throws -> Certificate.PublicKey

    /// Every slot, with its configuration and state, in slot order.
    func slots() throws -> [SecureElementSlotStatus]

    /// Generates a key pair inside the slot and returns its public half. Refused when the slot is locked,
    /// zeroized or already holds a key.
    func generateKey(inSlot slot: Int) throws -> Certificate.PublicKey

    /// The public half of the slot's key.
    func publicKey(inSlot slot: Int) throws -> Certificate.PublicKey

    /// Signs `message` inside the element with the slot's key: the element hashes as `algorithm` says and returns
    /// an X.509 signature (ECDSA-Sig-Value, RFC 3279 §2.2.3). Refused once the slot is zeroized.
    func sign(_ message: [UInt8], inSlot slot: Int, algorithm: Certificate.SignatureAlgorithm) throws
        -> Certificate.Signature

    /// Stores the slot key's certificate in the slot. Refused when locked, when there is no key, or when the
    /// certificate certifies another key.
    func writeCertificate(_ certificate: Certificate, toSlot slot: Int) throws

    /// The certificate stored in the slot, if any.
    func readCertificate(inSlot slot: Int) throws -> Certificate?

    /// Locks the slot for good: its key and certificate can no longer be replaced (signing still works).
    func lock(slot: Int) throws

    /// A statement about the slot's key, signed inside the element with its attestation key.
    ///
    /// `nonce` is the verifier's challenge (at most ``KeyAttestation/Statement/maximumNonceLength`` bytes), so an
    /// old attestation cannot be replayed as a fresh one.
    func attest(slot: Int, nonce: [UInt8]) throws -> KeyAttestation

    /// Destroys the slot's key for good; every later use of the slot's key fails.
    func zeroize(slot: Int) throws
}

extension SecureElement {
    /// The state of one slot.
    public func status(ofSlot slot: Int) throws -> SecureElementSlotStatus {
        guard let status = try slots().first(where: { $0.configuration.slot == slot }) else {
            throw SecureElementSlotRules.unknownSlot(slot, element: elementID)
        }
        return status
    }

    /// The slot's key as a `Certificate.PrivateKey` that signs inside the element, for ``RequestBuilder`` and the
    /// CA engine alike. Zeroizing the slot makes this key fail too.
    public func signingKey(inSlot slot: Int) throws -> Certificate.PrivateKey {
        Certificate.PrivateKey(
            try SecureElementSigningKey(element: self, slot: slot, publicKey: try publicKey(inSlot: slot)))
    }
}
