import ArgumentParser
import FleetkeyCore
import FleetkeyCustody
import FleetkeyPKCS11
import FleetkeySQLite
import Foundation
import SwiftASN1
import X509

struct OwnerCACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca", abstract: "An owner's domain CA: it issues the operational identities (LDevID) of EST.",
        subcommands: [OwnerCACreate.self, OwnerCAShow.self])
}

struct OwnerCACreate: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Give an owner's registry its own domain CA, with its key in custody and an OCSP responder.",
        discussion: """
            Run on a registry made by `fleetkey owner init`. The key goes to a new encrypted software keystore in \
            DIR/keys (the passphrase from FLEETKEY_PASSPHRASE or the terminal), or with --key to a PKCS#11 token. \
            Writes DIR/policy.json with the owner profiles: owner-ca, and ldevid (30 days, serialNumber = the device \
            serial, clientAuth, OCSP, CRL and caIssuers URLs under --base-url, where this owner's `fleetkey serve` \
            answers), and the enrollment policy (enrollment.requireApproval: false, zero-touch). Then `fleetkey serve \
            --est` enrolls the owner's devices.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "Domain CA key algorithm: p256 (default), p384, ed25519 or rsa3072.") var algorithm = "p256"
    @Option(help: "The public address where this owner's `fleetkey serve` answers OCSP, CRLs and CA certificates.")
    var baseURL = "http://127.0.0.1:8080"
    @Option(name: .customLong("kdf-log2n"), help: "scrypt cost as log2(N) for keystore files (14...22; default 17).")
    var kdfLog2N = ScryptCost.standard.log2N
    @Option(
        help: ArgumentHelp(
            "Generate the domain CA key in a PKCS#11 token: pkcs11:token=LABEL;object=LABEL?module-path=/path/module.so.",
            discussion: "The PIN comes from FLEETKEY_PKCS11_PIN or the URI's pin-source=file:...; the OCSP responder's "
                + "key stays in the software keystore."))
    var key: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let directory = location.directory
        var configuration = try directory.configuration()
        guard configuration.role == "owner" else {
            throw FleetkeyError(
                .invalidArgument,
                "\(directory.url.path) is an ecosystem, not an owner's registry: a domain CA belongs to a device "
                    + "owner (fleetkey owner init)")
        }
        let owner = try OwnerName(configuration.name)
        let spec = try KeySpec(cliName: algorithm)
        let registry = try directory.openSupplyChainRegistry()
        guard let enrollment = registry as? any EnrollmentRegistry else {
            throw FleetkeyError(.configuration, "this registry does not support enrollment")
        }
        if try await registry.authority(id: Ecosystem.domainCAID) != nil {
            throw FleetkeyError(.alreadyExists, "this registry already has a domain CA; see `fleetkey owner ca show`")
        }
        let caKeyCustody = try CAKeyOption.custody(
            key, label: Ecosystem.domainCAID,
            allowedModules: PKCS11Modules.allowList(for: directory, configured: configuration.pkcs11Modules))
        let policy = try EcosystemPolicy.owner(name: owner.value, baseURL: baseURL, random: Runtime.random)
        // A new keystore: the passphrase is checked against the minimum, as `init` checks it, however it is given.
        let passphrase = try PassphraseSource.obtain(confirm: true)
        let cost = ScryptCost(log2N: kdfLog2N)
        let keystore = try SoftwareKeystore(directory: directory.keysURL, passphrase: passphrase, cost: cost)
        try policy.encoded().write(to: directory.policyURL, options: .atomic)
        let ecosystem = Ecosystem(
            policy: policy, store: registry,
            custody: try KeyCustodyRouter(
                keystore: keystore,
                allowedModules: PKCS11Modules.allowList(
                    for: directory,
                    configured: (configuration.pkcs11Modules ?? [])
                        + (caKeyCustody?.generationTarget?.modulePath.map { [$0] } ?? []))),
            caKeyCustody: caKeyCustody, clock: Runtime.clock, random: Runtime.random, actor: Actor.current)
        let setup = try await ecosystem.createDomainCA(owner: owner, algorithm: spec, into: enrollment)
        if let module = caKeyCustody?.generationTarget?.modulePath { try PKCS11Modules.record(module, in: directory) }
        configuration = try directory.configuration()
        configuration.keystore = "keys"
        configuration.scryptLog2N = cost.log2N
        try directory.writeConfiguration(configuration)
        let caFile = try directory.publish(try setup.caCertificate.pemString(), as: "\(Ecosystem.domainCAID).pem")
        let ocspFile = try directory.publish(
            try setup.ocspResponderCertificate.pemString(), as: "\(Ecosystem.domainCAID)-ocsp.pem")
        if json {
            try Output.json([
                "authority": Ecosystem.domainCAID, "caCertificate": caFile.path,
                "ocspResponderCertificate": ocspFile.path,
                "caSerial": setup.caCertificate.serialNumber.hexString, "policy": directory.policyURL.path,
                "key": try await registry.authority(id: Ecosystem.domainCAID)?.keyReference ?? "",
            ])
        } else {
            Output.line("Created the domain CA of '\(owner)' (\(spec)): \(setup.caCertificate.subject)")
            Output.line("  domain CA        \(caFile.path)")
            Output.line("  OCSP responder   \(ocspFile.path)")
            Output.line("  policy           \(directory.policyURL.path) (ldevid: 30 days; zero-touch enrollment)")
            Output.line(
                "Next: fleetkey serve --dir \(directory.url.path) --est --est-tls-cert SERVER.pem --est-tls-key "
                    + "SERVER.key")
        }
    }
}

struct OwnerCAShow: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show the owner's domain CA: its certificate, key custody and issuance count.")

    @OptionGroup var location: DirectoryOption
    @Flag(help: "Print the result as JSON.") var json = false

    struct View: Encodable {
        var authority: String
        var subject: String
        var serial: String
        var notBefore: Date
        var notAfter: Date
        var key: String
        var algorithm: String
        var certificatesIssued: Int
    }

    func execute() async throws {
        let registry = try location.directory.openRegistry()
        guard let record = try await registry.authority(id: Ecosystem.domainCAID) else {
            throw FleetkeyError(.notFound, "this registry has no domain CA; create one with `fleetkey owner ca create`")
        }
        let certificate = try Certificate(derEncoded: record.certificateDER)
        let view = View(
            authority: record.id, subject: certificate.subject.description,
            serial: certificate.serialNumber.hexString, notBefore: certificate.notValidBefore,
            notAfter: certificate.notValidAfter, key: record.keyReference, algorithm: record.algorithm.description,
            certificatesIssued: try await registry.certificateCount(issuer: record.id))
        if json {
            try Output.json(view)
        } else {
            let formatter = ISO8601DateFormatter()
            Output.line("Domain CA \(view.subject)")
            Output.line("  serial       \(view.serial)")
            Output.line(
                "  valid        \(formatter.string(from: view.notBefore)) to \(formatter.string(from: view.notAfter))")
            Output.line("  key          \(view.key) (\(view.algorithm))")
            Output.line("  issued       \(view.certificatesIssued) certificate(s)")
        }
    }
}
