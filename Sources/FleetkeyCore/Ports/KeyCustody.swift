import X509

/// Where private keys live. The core asks custody to make keys and to sign; it never sees key bytes.
///
/// Implementations: the encrypted software keystore (embedded default); PKCS#11 tokens and secure
/// elements follow the same protocol. A reference is an opaque string meaningful to its custody
/// (`keystore:vendor-acme`, `pkcs11:token=...`), stored in the registry so an auditor can see where a key is.
public protocol KeyCustody: Sendable {
    /// What kind of custody this is, recorded with every key it holds.
    var kind: KeyCustodyKind { get }

    /// Generates a new key inside custody and returns its reference and public key.
    func generateKey(_ spec: KeySpec, label: String) async throws -> CustodiedKey

    /// A signer for the referenced key. The private key stays in custody (for the software keystore it is
    /// decrypted into memory only for the life of the returned value).
    func signingKey(_ reference: String) async throws -> Certificate.PrivateKey

    /// Destroys the key; later use of the reference fails.
    func destroyKey(_ reference: String) async throws

    /// The public half of the referenced key.
    func publicKey(of reference: String) async throws -> Certificate.PublicKey
}

extension KeyCustody {
    /// By default, the public key of the signer; custodies that can read a public key without touching the
    /// private one (a PKCS#11 token's public key object) do so instead.
    public func publicKey(of reference: String) async throws -> Certificate.PublicKey {
        try await signingKey(reference).publicKey
    }
}

/// A key held in custody: its reference and public half.
public struct CustodiedKey: Sendable, Hashable {
    public var reference: String
    public var publicKey: Certificate.PublicKey
    public var spec: KeySpec

    public init(reference: String, publicKey: Certificate.PublicKey, spec: KeySpec) {
        self.reference = reference
        self.publicKey = publicKey
        self.spec = spec
    }
}
