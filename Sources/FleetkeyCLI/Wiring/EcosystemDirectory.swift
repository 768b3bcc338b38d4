import FleetkeyCore
import FleetkeyCustody
import FleetkeySQLite
import Foundation

/// The on-disk layout of one ecosystem, and the wiring from it to the core's ports.
///
/// ```
/// DIR/fleetkey.json     what lives where (registry, keystore, scrypt cost)
/// DIR/policy.json       the published, human-editable policy (profiles, algorithms, URLs)
/// DIR/registry.sqlite   the registry (embedded default; fleetkey.json may name a PostgreSQL one instead)
/// DIR/keys/             the encrypted software keystore, one sealed file per key
/// DIR/certs/            public copies of CA certificates, for relying parties and openssl
/// ```
struct EcosystemDirectory {
    let url: URL

    var configURL: URL { url.appendingPathComponent("fleetkey.json") }
    var policyURL: URL { url.appendingPathComponent("policy.json") }
    var registryURL: URL { url.appendingPathComponent("registry.sqlite") }
    var keysURL: URL { url.appendingPathComponent("keys") }
    var certsURL: URL { url.appendingPathComponent("certs") }

    /// What `fleetkey.json` records.
    struct Configuration: Codable {
        var format: Int
        var name: String
        var registry: String
        /// The keystore directory and its scrypt cost; absent in an owner's directory, which holds no CA keys.
        var keystore: String?
        var scryptLog2N: Int?
        var createdAt: Date
        /// `owner` for a device owner's registry (`fleetkey owner init`); absent for an ecosystem.
        var role: String?
        /// An owner directory's trusted ecosystem root, as a file name in the directory.
        var trustAnchor: String?
        /// The PKCS#11 modules (paths) this ecosystem's keys may be reached through; `init --key` and
        /// `vendor add --key` add the module they are given (``PKCS11Modules``).
        var pkcs11Modules: [String]? = nil
        /// Only in a directory `fleetkey demo` made: the file (mode 0600) holding its keystore passphrase, so the
        /// commands the demo prints run as printed. Never set for a real ecosystem.
        var demoPassphraseFile: String? = nil
        /// Where `fleetkey serve` sends expiry notices (docs/authz.md); each secret in a file of its own.
        var webhooks: [WebhookEndpoint]? = nil
    }

    /// The bytes of a secret file named in `fleetkey.json`, relative to the directory. Refused when others than its
    /// owner may read it, since whoever reads it can forge what it signs. Its bytes never reach an error or a log.
    func secretFile(_ name: String, for user: String) throws -> [UInt8] {
        let path = name.hasPrefix("/") ? name : url.appendingPathComponent(name).path
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw FleetkeyError(.configuration, "the secret file of \(user), \(path), cannot be read")
        }
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw FleetkeyError(
                .configuration,
                "the secret file of \(user), \(path), may be read by others (mode \(String(mode, radix: 8))); "
                    + "chmod 600 it")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FleetkeyError(.configuration, "the secret file of \(user), \(path), cannot be read")
        }
        return Array(data)
    }

    /// Finds the ecosystem: `--dir`, then FLEETKEY_DIR, then ./fleetkey-data.
    static func resolve(_ option: String?) -> EcosystemDirectory {
        let path = option ?? ProcessInfo.processInfo.environment["FLEETKEY_DIR"] ?? "fleetkey-data"
        return EcosystemDirectory(url: URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL)
    }

    var exists: Bool { FileManager.default.fileExists(atPath: configURL.path) }

    func configuration() throws -> Configuration {
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw FleetkeyError(
                .configuration,
                "no ecosystem at \(url.path): run `fleetkey init --dir \(url.path) --name NAME`, or point --dir or "
                    + "FLEETKEY_DIR at an existing one")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Configuration.self, from: data)
        } catch {
            throw FleetkeyError(.configuration, "\(configURL.path) is not a valid Fleetkey configuration: \(error)")
        }
    }

    func writeConfiguration(_ configuration: Configuration) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(configuration).write(to: configURL, options: .atomic)
    }

    func policy() throws -> EcosystemPolicy {
        guard let data = FileManager.default.contents(atPath: policyURL.path) else {
            throw FleetkeyError(.configuration, "the ecosystem at \(url.path) has no policy.json")
        }
        return try EcosystemPolicy.decode(data)
    }

    /// The registry `fleetkey.json` names: SQLite in this directory, or PostgreSQL (see ``RegistrySelection``).
    func openRegistry() throws -> any RegistryStore {
        let configuration = try configuration()
        return try RegistrySelection(recorded: configuration.registry, directory: url).open()
    }

    /// The registry with its supply-chain side, for the factory line, owners and manifests.
    func openSupplyChainRegistry() throws -> any RegistryStore & SupplyChainStore {
        guard let store = try openRegistry() as? any RegistryStore & SupplyChainStore else {
            throw FleetkeyError(.configuration, "this registry does not support the supply chain (owners, manifests)")
        }
        return store
    }

    /// The registry with its access-control side (groups, the policy, decisions), for an owner's registry.
    func openAccessRegistry() throws -> any AccessRegistry {
        guard let store = try openRegistry() as? any AccessRegistry else {
            throw FleetkeyError(.configuration, "this registry does not support access control (groups, policies)")
        }
        return store
    }

    /// The registry with its fleet-operations side (expiry, commands, webhook deliveries) and its groups.
    func openFleetRegistry() throws -> any RegistryStore & FleetOperationsStore & AccessStore {
        guard let store = try openRegistry() as? any RegistryStore & FleetOperationsStore & AccessStore else {
            throw FleetkeyError(.configuration, "this registry does not support fleet operations (expiry, commands)")
        }
        return store
    }

    /// The registry with its revocation side, for revoking and publishing status.
    func openRevocationRegistry() throws -> any RegistryStore & RevocationStore {
        guard let store = try openRegistry() as? any RegistryStore & RevocationStore else {
            throw FleetkeyError(.configuration, "this ecosystem's registry does not support revocation")
        }
        return store
    }

    func openKeystore(passphrase: Passphrase) throws -> SoftwareKeystore {
        let configuration = try configuration()
        guard let keystore = configuration.keystore, let log2N = configuration.scryptLog2N else {
            throw FleetkeyError(
                .configuration,
                "\(url.path) is a device owner's registry (fleetkey owner init): it holds no CA keys, so it cannot "
                    + "issue, sign or revoke; run this command on the ecosystem's directory")
        }
        return try SoftwareKeystore(
            directory: url.appendingPathComponent(keystore), passphrase: passphrase, cost: ScryptCost(log2N: log2N))
    }

    /// The core wired to this directory's registry and keystore; keys in PKCS#11 tokens are reached through their
    /// `pkcs11:` references (``KeyCustodyRouter``), and `caKeyCustody` makes new CA keys in a token (`--key`).
    func openEcosystem(passphrase: Passphrase, caKeyCustody: (any KeyCustody)? = nil) throws -> Ecosystem {
        Ecosystem(
            policy: try policy(), store: try openRegistry(),
            custody: try KeyCustodyRouter(
                keystore: try openKeystore(passphrase: passphrase),
                allowedModules: PKCS11Modules.allowList(for: self, configured: try configuration().pkcs11Modules)),
            caKeyCustody: caKeyCustody, clock: Runtime.clock, random: Runtime.random, actor: Actor.current)
    }

    /// The keystore passphrase: FLEETKEY_PASSPHRASE or the terminal (``PassphraseSource``); in a directory made by
    /// `fleetkey demo`, its demo passphrase file, with a warning that it is for demos only.
    func passphrase() throws -> Passphrase {
        if ProcessInfo.processInfo.environment["FLEETKEY_PASSPHRASE"] == nil,
            let name = try? configuration().demoPassphraseFile
        {
            let file = url.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file.path),
                let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .newlines), !text.isEmpty
            else {
                throw FleetkeyError(.keyAccessDenied, "the demo passphrase file \(file.path) is missing or empty")
            }
            let mode = (try? FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int) ?? 0
            guard mode & 0o077 == 0 else {
                throw FleetkeyError(
                    .keyAccessDenied, "the demo passphrase file \(file.path) is readable by others; chmod 600 it")
            }
            Output.progress("note: using the demo passphrase in \(file.path) (fleetkey demo; for demos only)")
            return Passphrase(text)
        }
        return try PassphraseSource.obtain(confirm: false)
    }

    /// Writes a public copy of a CA certificate under certs/.
    func publish(_ pem: String, as name: String) throws -> URL {
        try FileManager.default.createDirectory(at: certsURL, withIntermediateDirectories: true)
        let file = certsURL.appendingPathComponent(name)
        try Data((pem.hasSuffix("\n") ? pem : pem + "\n").utf8).write(to: file, options: .atomic)
        return file
    }
}

/// The real clock and randomness, chosen once here at the composition root and passed into the core.
enum Runtime {
    static let clock: any WallClock = SystemWallClock()
    static let random: any RandomSource = SystemRandomSource()
}

/// Who the event log says did something: FLEETKEY_ACTOR, or the operating-system user.
enum Actor {
    static var current: String {
        let environment = ProcessInfo.processInfo.environment
        if let actor = environment["FLEETKEY_ACTOR"], !actor.isEmpty { return actor }
        return "cli:" + (environment["USER"] ?? environment["LOGNAME"] ?? "unknown")
    }
}
