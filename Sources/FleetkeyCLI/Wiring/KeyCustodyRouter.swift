import FleetkeyCore
import FleetkeyCustody
import FleetkeyPKCS11
import X509

/// The custody the CLI hands the core: each key reference goes to the custody that made it.
///
/// `pkcs11:` URIs (RFC 7512) go to ``PKCS11KeyCustody`` (a root or vendor CA key made with `--key pkcs11:...`);
/// `keystore:` references go to the encrypted ``SoftwareKeystore``. New keys are made in the keystore, except CA
/// keys when a command passes a PKCS#11 custody as the ecosystem's `caKeyCustody`.
struct KeyCustodyRouter: KeyCustody {
    let keystore: SoftwareKeystore
    let pkcs11: PKCS11KeyCustody

    init(keystore: SoftwareKeystore) throws {
        self.keystore = keystore
        self.pkcs11 = try PKCS11KeyCustody()
    }

    var kind: KeyCustodyKind { keystore.kind }

    func generateKey(_ spec: KeySpec, label: String) async throws -> CustodiedKey {
        try await keystore.generateKey(spec, label: label)
    }

    func signingKey(_ reference: String) async throws -> Certificate.PrivateKey {
        try await custody(for: reference).signingKey(reference)
    }

    func publicKey(of reference: String) async throws -> Certificate.PublicKey {
        try await custody(for: reference).publicKey(of: reference)
    }

    func destroyKey(_ reference: String) async throws {
        try await custody(for: reference).destroyKey(reference)
    }

    private func custody(for reference: String) -> any KeyCustody {
        PKCS11URI.isPKCS11URI(reference) ? pkcs11 : keystore
    }
}

/// Parses a `--key` option: a PKCS#11 URI naming where a CA key is to be generated.
enum CAKeyOption {
    /// `label` is the object label the key gets when the URI names none (`root`, `vendor-acme`).
    static func custody(_ key: String?, label: String) throws -> PKCS11KeyCustody? {
        guard let key else { return nil }
        guard PKCS11URI.isPKCS11URI(key) else {
            throw FleetkeyError(
                .invalidArgument,
                "--key must be a PKCS#11 URI (RFC 7512), such as "
                    + "pkcs11:token=fleet-ca;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so; without --key the "
                    + "key goes to the encrypted software keystore")
        }
        let custody = try PKCS11KeyCustody(generatingIn: try PKCS11URI(parsing: key))
        // Module, token, PIN and a free label are checked before anything is written.
        try custody.preflight(defaultLabel: label)
        return custody
    }
}
