import FleetkeyCore
import FleetkeyCustody
import FleetkeyPKCS11
import Foundation
import X509

/// The custody the CLI hands the core: each key reference goes to the custody that made it.
///
/// `pkcs11:` URIs (RFC 7512) go to ``PKCS11KeyCustody`` (a root or vendor CA key made with `--key pkcs11:...`);
/// `keystore:` references go to the encrypted ``SoftwareKeystore``. New keys are made in the keystore, except CA
/// keys when a command passes a PKCS#11 custody as the ecosystem's `caKeyCustody`.
struct KeyCustodyRouter: KeyCustody {
    let keystore: SoftwareKeystore
    let pkcs11: PKCS11KeyCustody

    /// `allowedModules`: the PKCS#11 modules a `pkcs11:` reference may have loaded (``PKCS11Modules``).
    init(keystore: SoftwareKeystore, allowedModules: PKCS11ModuleAllowList) throws {
        self.keystore = keystore
        self.pkcs11 = try PKCS11KeyCustody(allowedModules: allowedModules)
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

/// The PKCS#11 modules a command may load: those the ecosystem's `fleetkey.json` lists in `pkcs11Modules`, and those
/// FLEETKEY_PKCS11_MODULES names (colon-separated, for `hsm check` outside an ecosystem or an emergency).
///
/// The rule is ``PKCS11ModuleAllowList``'s; the CLI only reads where the list is kept. `init --key` and
/// `vendor add --key` add the module they are given to `fleetkey.json` (``record(_:in:)``).
enum PKCS11Modules {
    static let environmentVariable = "FLEETKEY_PKCS11_MODULES"

    static func allowList(for directory: EcosystemDirectory?, configured: [String]?) -> PKCS11ModuleAllowList {
        let fromEnvironment = PKCS11ModuleAllowList.parsing(
            colonSeparated: ProcessInfo.processInfo.environment[environmentVariable])
        let file = directory.map { "\"pkcs11Modules\" in \($0.configURL.path)" } ?? "\"pkcs11Modules\" in fleetkey.json"
        return PKCS11ModuleAllowList(
            (configured ?? []) + fromEnvironment,
            remedy: "add its path to \(file) (`init --key` and `vendor add --key` do so for the module they are "
                + "given), or, for one command, set \(environmentVariable) to it (colon-separated)")
    }

    /// Adds `modulePath` to the ecosystem's `fleetkey.json` list, unless it is there already.
    static func record(_ modulePath: String, in directory: EcosystemDirectory) throws {
        var configuration = try directory.configuration()
        var modules = configuration.pkcs11Modules ?? []
        guard !modules.contains(modulePath) else { return }
        modules.append(modulePath)
        configuration.pkcs11Modules = modules
        try directory.writeConfiguration(configuration)
    }
}

/// Parses a `--key` option: a PKCS#11 URI naming where a CA key is to be generated.
enum CAKeyOption {
    /// `label` is the object label the key gets when the URI names none (`root`, `vendor-acme`). The URI's module is
    /// allowed for this command, beside `allowedModules`: the operator named it.
    static func custody(_ key: String?, label: String, allowedModules: PKCS11ModuleAllowList) throws
        -> PKCS11KeyCustody?
    {
        guard let key else { return nil }
        guard PKCS11URI.isPKCS11URI(key) else {
            throw FleetkeyError(
                .invalidArgument,
                "--key must be a PKCS#11 URI (RFC 7512), such as "
                    + "pkcs11:token=fleet-ca;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so; without --key the "
                    + "key goes to the encrypted software keystore")
        }
        let uri = try PKCS11URI(parsing: key)
        let custody = try PKCS11KeyCustody(
            generatingIn: uri, allowedModules: allowedModules.adding(uri.modulePath.map { [$0] } ?? []))
        // Module, token, PIN and a free label are checked before anything is written.
        try custody.preflight(defaultLabel: label)
        return custody
    }
}
