import ArgumentParser
import FleetkeyCore
import FleetkeyCustody
import FleetkeyPKCS11
import FleetkeyPostgres
import FleetkeySQLite
import Foundation
import SwiftASN1
import X509

struct InitCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create an ecosystem: the root CA, the policy file and the registry.",
        discussion: """
            The root key is generated in the encrypted software keystore (scrypt + AES-256-GCM) under the
            passphrase from FLEETKEY_PASSPHRASE or the terminal, or with --key in a PKCS#11 token. Refuses a directory that already holds an ecosystem.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The ecosystem's name; the root's O= and CN=.") var name: String
    @Option(help: "Root key algorithm: p384 (default), p256, ed25519 or rsa3072.") var algorithm = "p384"
    @Option(help: "The public address where `fleetkey serve` will answer; OCSP, CRL and caIssuers URLs derive from it.")
    var baseURL = "http://127.0.0.1:8080"
    @Option(name: .customLong("kdf-log2n"), help: "scrypt cost as log2(N) for keystore files (14...22; default 17).")
    var kdfLog2N = ScryptCost.standard.log2N
    @Option(
        help: ArgumentHelp(
            "Keep the registry in PostgreSQL instead of the embedded SQLite file: postgres://USER@HOST:PORT/DATABASE.",
            discussion:
                "The database's password, if it needs one, comes from FLEETKEY_DATABASE_PASSWORD or PGPASSWORD, "
                + "never from the URL; fleetkey.json records the URL, and later commands use it without a flag."))
    var database: String?
    @Option(
        help: ArgumentHelp(
            "Generate the root key in a PKCS#11 token: pkcs11:token=LABEL;object=LABEL?module-path=/path/module.so.",
            discussion: "The PIN comes from FLEETKEY_PKCS11_PIN or the URI's pin-source=file:..., never from the "
                + "command line. The key is made sensitive and never extractable; the registry records its URI, and "
                + "fleetkey.json records its module in pkcs11Modules, the only modules later commands may load."))
    var key: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let directory = location.directory
        guard !directory.exists else {
            throw FleetkeyError(
                .alreadyExists,
                "\(directory.url.path) already holds an ecosystem (fleetkey.json); refusing to overwrite it. "
                    + "Choose another --dir, or remove it if you really mean to start over")
        }
        let spec = try KeySpec(cliName: algorithm)
        let policy = try EcosystemPolicy.founding(ecosystem: name, baseURL: baseURL, random: Runtime.random)
        let rootKeyCustody = try CAKeyOption.custody(
            key, label: "root", allowedModules: PKCS11Modules.allowList(for: directory, configured: nil))
        // A PostgreSQL registry is reached, migrated and checked to be empty before anything is created.
        var postgres: (location: PostgresLocation, registry: PostgresRegistry)?
        if let database {
            let location = try PostgresLocation(url: database)
            postgres = (location, try await RegistrySelection.openEmptyPostgres(location))
        }
        let passphrase = try PassphraseSource.obtain(confirm: true)
        let cost = ScryptCost(log2N: kdfLog2N)

        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
        let keystore = try SoftwareKeystore(directory: directory.keysURL, passphrase: passphrase, cost: cost)
        try policy.encoded().write(to: directory.policyURL, options: .atomic)
        let registry: any RegistryStore = try postgres?.registry ?? SQLiteRegistry(path: directory.registryURL.path)
        let registryName = postgres?.location.url ?? directory.registryURL.path
        let ecosystem = Ecosystem(
            policy: policy, store: registry,
            // Signing goes through the router: the root's first CRL is signed with a key that may be on a token.
            custody: try KeyCustodyRouter(
                keystore: keystore,
                allowedModules: PKCS11Modules.allowList(
                    for: directory, configured: rootKeyCustody?.generationTarget?.modulePath.map { [$0] })),
            caKeyCustody: rootKeyCustody, clock: Runtime.clock,
            random: Runtime.random, actor: Actor.current)
        let root = try await ecosystem.createRoot(algorithm: spec)
        if let revocation = registry as? any RevocationStore {
            try await ecosystem.publishRootCRL(into: revocation)
        }
        let rootFile = try directory.publish(try root.pemString(), as: "root.pem")
        // Written last: its presence is what marks a complete ecosystem.
        try directory.writeConfiguration(
            .init(
                format: 1, name: name, registry: postgres?.location.url ?? "registry.sqlite", keystore: "keys",
                scryptLog2N: cost.log2N, createdAt: Runtime.clock.now(),
                pkcs11Modules: rootKeyCustody?.generationTarget?.modulePath.map { [$0] }))

        if json {
            try Output.json(
                InitResult(
                    directory: directory.url.path, root: rootFile.path, policy: directory.policyURL.path,
                    registry: registryName, algorithm: spec.description,
                    rootSerial: root.serialNumber.hexString,
                    rootKey: try await registry.authority(id: "root")?.keyReference))
        } else {
            Output.line("Created ecosystem '\(name)' in \(directory.url.path)")
            Output.line("  root CA      \(rootFile.path) (\(spec), serial \(root.serialNumber.hexString))")
            Output.line("  policy       \(directory.policyURL.path)")
            Output.line("  registry     \(registryName)")
            if let reference = try await registry.authority(id: "root")?.keyReference, rootKeyCustody != nil {
                Output.line("  root key     \(reference) (PKCS#11 token)")
            }
            Output.line("  keystore     \(directory.keysURL.path) (encrypted, scrypt 2^\(cost.log2N))")
            Output.line("Next: fleetkey vendor add NAME --dir \(directory.url.path)")
        }
    }

    struct InitResult: Encodable {
        var directory: String
        var root: String
        var policy: String
        var registry: String
        var algorithm: String
        var rootSerial: String
        var rootKey: String?
    }
}
