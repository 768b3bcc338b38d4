import ArgumentParser
import FleetkeyCore
import FleetkeyPKCS11
import Foundation
import SwiftASN1
import X509

struct VendorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vendor",
        abstract: "Admit and list vendors (manufacturers) and their issuing CAs.",
        subcommands: [VendorAdd.self, VendorList.self])
}

struct VendorAdd: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Admit a vendor: an issuing CA under the root, name-constrained to O=NAME.",
        discussion: """
            Also issues the vendor's delegated OCSP-responder and manifest-signing certificates.
            The new keys are generated in the keystore (the CA key in a PKCS#11 token with --key); the root key
            signs the vendor CA.
            """)

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The vendor's name, used as O= in every certificate under its CA.") var name: String
    @Option(help: "Key algorithm of the vendor CA: p256 (default), p384, ed25519 or rsa3072.") var algorithm = "p256"
    @Option(
        help: ArgumentHelp(
            "Generate the vendor CA key in a PKCS#11 token: pkcs11:token=LABEL;object=LABEL?module-path=/path/module.so.",
            discussion:
                "The PIN comes from FLEETKEY_PKCS11_PIN or the URI's pin-source=file:...; the OCSP-responder and "
                + "manifest-signer keys stay in the software keystore. The module is added to fleetkey.json's "
                + "pkcs11Modules, the modules Fleetkey may load."))
    var key: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let directory = location.directory
        let vendor = try VendorName(name)
        let spec = try KeySpec(cliName: algorithm)
        let configuration = try directory.configuration()
        let caKeyCustody = try CAKeyOption.custody(
            key, label: vendor.authorityID,
            allowedModules: PKCS11Modules.allowList(for: directory, configured: configuration.pkcs11Modules))
        let ecosystem = try directory.openEcosystem(
            passphrase: try directory.passphrase(), caKeyCustody: caKeyCustody)
        let setup = try await ecosystem.addVendor(vendor, algorithm: spec)
        // The root key is in hand: leave the servers a fresh root CRL too.
        if let revocation = ecosystem.store as? any RevocationStore {
            try await ecosystem.publishRootCRL(into: revocation)
        }
        // The module now holds a CA key the registry refers to: later commands may load it.
        if let module = caKeyCustody?.generationTarget?.modulePath { try PKCS11Modules.record(module, in: directory) }
        let caFile = try directory.publish(try setup.caCertificate.pemString(), as: "\(vendor.authorityID).pem")
        let ocspFile = try directory.publish(
            try setup.ocspResponderCertificate.pemString(), as: "\(vendor.authorityID)-ocsp.pem")
        let manifestFile = try directory.publish(
            try setup.manifestSignerCertificate.pemString(), as: "\(vendor.authorityID)-manifest-signer.pem")
        if json {
            try Output.json([
                "vendor": vendor.value, "authority": vendor.authorityID, "caCertificate": caFile.path,
                "ocspResponderCertificate": ocspFile.path, "manifestSignerCertificate": manifestFile.path,
                "caSerial": setup.caCertificate.serialNumber.hexString,
            ])
        } else {
            Output.line("Admitted vendor '\(vendor)' (\(spec)), name-constrained to O=\(vendor)")
            Output.line("  issuing CA       \(caFile.path)")
            Output.line("  OCSP responder   \(ocspFile.path)")
            Output.line("  manifest signer  \(manifestFile.path)")
        }
    }
}

struct VendorList: FleetkeyCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the vendors.")

    @OptionGroup var location: DirectoryOption
    @Flag(help: "Print the result as JSON.") var json = false

    struct Row: Encodable {
        var name: String
        var authority: String
        var state: String
        var algorithm: String
        var caSerial: String
        var notAfter: Date
        var certificates: Int
    }

    func execute() async throws {
        let registry = try location.directory.openRegistry()
        var rows: [Row] = []
        for vendor in try await registry.vendors() {
            guard let authority = try await registry.authority(id: vendor.authorityID) else { continue }
            let certificate = try Certificate(derEncoded: authority.certificateDER)
            rows.append(
                Row(
                    name: vendor.name.value, authority: vendor.authorityID, state: vendor.state.rawValue,
                    algorithm: authority.algorithm.description, caSerial: certificate.serialNumber.hexString,
                    notAfter: certificate.notValidAfter,
                    certificates: try await registry.certificateCount(issuer: vendor.authorityID)))
        }
        if json {
            try Output.json(rows)
            return
        }
        if rows.isEmpty {
            Output.line("No vendors yet; add one with `fleetkey vendor add NAME`.")
            return
        }
        Output.line(
            "NAME".padding(toLength: 24, withPad: " ", startingAt: 0) + "STATE    ALGORITHM   ISSUED  CA NOT AFTER")
        for row in rows {
            Output.line(
                row.name.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + row.state.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + row.algorithm.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(row.certificates).padding(toLength: 8, withPad: " ", startingAt: 0)
                    + ISO8601DateFormatter().string(from: row.notAfter))
        }
    }
}

struct CACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca", abstract: "CA certificates.", subcommands: [CACert.self])
}

struct CACert: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Print the root's certificate, or a vendor CA's, in PEM.")

    @OptionGroup var location: DirectoryOption
    @Option(help: "Print this vendor's issuing CA instead of the root.") var vendor: String?

    func execute() async throws {
        let registry = try location.directory.openRegistry()
        var id = "root"
        if let vendor {
            let name = try VendorName(vendor)
            guard let record = try await registry.vendor(named: name) else {
                throw FleetkeyError(.notFound, "unknown vendor '\(vendor)'; see `fleetkey vendor list`")
            }
            id = record.authorityID
        }
        guard let authority = try await registry.authority(id: id) else {
            throw FleetkeyError(.notFound, "the registry has no '\(id)' CA")
        }
        print(try Certificate(derEncoded: authority.certificateDER).pemString(), terminator: "\n")
    }
}
