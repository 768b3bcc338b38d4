import ArgumentParser
import Crypto
import FleetkeyCore
import FleetkeyCustody
import FleetkeySQLite
import Foundation
import SwiftASN1
import X509

struct DemoCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a small ecosystem from nothing: a root, two vendors and a handful of devices.",
        discussion: """
            Uses the embedded defaults (SQLite registry, encrypted software keystore). The keystore passphrase is
            FLEETKEY_PASSPHRASE when set; otherwise a random one is used for this run and not kept, so the demo's
            CA keys cannot sign again (the registry and certificates stay readable).
            """)

    @Option(help: "Where to build the demo ecosystem (default: a new directory under the system temp dir).")
    var dir: String?
    @Option(help: "Devices per vendor.") var devices = 3
    @Flag(help: "Print the result as JSON.") var json = false

    struct Result: Encodable {
        var directory: String
        var root: String
        var vendors: [String: String]
        var devices: [String]
        var verify: String
        var manifest: String
        var verifyManifest: String
    }

    func execute() async throws {
        let url: URL
        if let dir {
            url = URL(fileURLWithPath: dir, isDirectory: true).standardizedFileURL
        } else {
            url = FileManager.default.temporaryDirectory.appendingPathComponent(
                "fleetkey-demo-\(Hex.lower(SystemRandomSource().bytes(count: 4)))", isDirectory: true)
        }
        let directory = EcosystemDirectory(url: url)
        guard !directory.exists else {
            throw FleetkeyError(.alreadyExists, "\(url.path) already holds an ecosystem; give the demo a new --dir")
        }
        guard (1...1000).contains(devices) else {
            throw FleetkeyError(.invalidArgument, "--devices must be between 1 and 1000")
        }
        let (passphrase, generatedPassphrase) = try PassphraseSource.forDemo()
        let cost = ScryptCost.standard

        progress("Creating the ecosystem 'Demo Ecosystem' in \(url.path)")
        let policy = try EcosystemPolicy(
            ecosystem: "Demo Ecosystem", baseURL: "http://127.0.0.1:8080",
            hardwareModuleType: InitCommand.newHardwareType())
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try policy.encoded().write(to: directory.policyURL, options: .atomic)
        let registry = try SQLiteRegistry(path: directory.registryURL.path)
        let ecosystem = Ecosystem(
            policy: policy, store: registry,
            custody: try SoftwareKeystore(directory: directory.keysURL, passphrase: passphrase, cost: cost),
            actor: "demo")
        let root = try await ecosystem.createRoot(algorithm: .p384)
        let rootFile = try directory.publish(try root.pemString(), as: "root.pem")
        try directory.writeConfiguration(
            .init(
                format: 1, name: policy.ecosystem, registry: "registry.sqlite", keystore: "keys",
                scryptLog2N: cost.log2N, createdAt: Date()))

        var vendorFiles: [String: String] = [:]
        var deviceFiles: [String] = []
        let devicesURL = directory.certsURL.appendingPathComponent("devices")
        try FileManager.default.createDirectory(at: devicesURL, withIntermediateDirectories: true)
        let hardwareType = try ASN1ObjectIdentifier(dotRepresentation: policy.hardwareModuleType)
        for (vendorText, prefix) in [("Acme Sensors", "ACME"), ("Globex Devices", "GLBX")] {
            let vendor = try VendorName(vendorText)
            progress("Admitting vendor '\(vendor)'")
            let setup = try await ecosystem.addVendor(vendor, algorithm: .p256)
            vendorFiles[vendor.value] = try directory.publish(
                try setup.caCertificate.pemString(), as: "\(vendor.authorityID).pem"
            ).path
            let authority = try await ecosystem.vendorAuthority(vendor)
            for index in 1...devices {
                let serial = try DeviceSerial(String(format: "%@-%06d", prefix, index))
                // A simulated device: its key is made here and discarded; a real one is born in a secure element.
                let deviceKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
                let request = try RequestBuilder.deviceRequest(
                    vendor: vendor, serial: serial,
                    hardwareModule: HardwareModuleName(
                        hardwareType: hardwareType, serialNumber: Array("SE-\(serial.value)".utf8)),
                    key: deviceKey)
                let issued = try await ecosystem.issueDeviceIdentity(
                    .init(csr: try request.derBytes(), lot: "\(prefix)-LOT-1"), by: authority)
                let file = devicesURL.appendingPathComponent("\(vendor.slug)-\(serial.value).pem")
                try Data((try issued.certificate.pemString() + "\n").utf8).write(to: file, options: .atomic)
                deviceFiles.append(file.path)
                progress("  issued \(serial) (serial \(issued.record.serial))")
            }
        }
        // The factory and the supply chain: a lot provisioned into emulated secure elements, and its signed manifest.
        let acme = try VendorName("Acme Sensors")
        progress("Provisioning lot ACME-FACTORY-1 into \(devices) emulated secure elements")
        let line = try FactoryLine(
            ecosystem: ecosystem, supplyChain: registry,
            elements: EmulatedElementSource(
                directory: url.appendingPathComponent("elements").appendingPathComponent(acme.authorityID)),
            vendor: acme, lot: "ACME-FACTORY-1")
        let acmeAuthority = try await ecosystem.vendorAuthority(acme)
        for index in 1...devices { _ = try await line.provision(index, by: acmeAuthority) }
        let signer = try await ecosystem.delegatedSigner(
            vendor: acme, profile: CertificateProfile.Name.manifestSigner, index: registry)
        let manifest = try await ManifestExporter(ecosystem: ecosystem).export(
            vendor: acme, lot: "ACME-FACTORY-1", buyer: nil, signer: signer)
        let manifestFile = url.appendingPathComponent("ACME-FACTORY-1.manifest")
        try Data(manifest.bytes).write(to: manifestFile, options: .atomic)

        let firstVendor = vendorFiles["Acme Sensors"]!
        let verify = "openssl verify -CAfile \(rootFile.path) -untrusted \(firstVendor) \(deviceFiles[0])"
        let verifyManifest =
            "openssl cms -verify -inform DER -in \(manifestFile.path) -CAfile \(rootFile.path) -purpose any -out /dev/null"
        if json {
            try Output.json(
                Result(
                    directory: url.path, root: rootFile.path, vendors: vendorFiles, devices: deviceFiles,
                    verify: verify,
                    manifest: manifestFile.path, verifyManifest: verifyManifest))
            return
        }
        Output.line("")
        Output.line("Demo ecosystem ready in \(url.path)")
        Output.line("  root CA           \(rootFile.path)")
        for (name, file) in vendorFiles.sorted(by: { $0.key < $1.key }) {
            Output.line("  vendor CA         \(file)  (\(name))")
        }
        Output.line("  device certs      \(devicesURL.path)/ (\(deviceFiles.count) certificates)")
        Output.line("  first device      \(deviceFiles[0])")
        Output.line("  registry          \(directory.registryURL.path)")
        Output.line("")
        Output.line("Verify a device certificate with openssl:")
        Output.line("  \(verify)")
        Output.line("Explore the registry:")
        Output.line("  fleetkey device list --dir \(url.path)")
        Output.line("  fleetkey cert show --dir \(url.path) \(deviceFiles[0])")
        Output.line("  fleetkey lot show ACME-FACTORY-1 --dir \(url.path)")
        Output.line("A factory lot's signed manifest (docs/manifests.md), and how a buyer checks and imports it:")
        Output.line("  \(verifyManifest)")
        Output.line("  fleetkey owner init --dir \(url.path)-owner --name Buyer --trust-anchor \(rootFile.path)")
        Output.line("  fleetkey crl publish --dir \(url.path) --out \(url.path)/crl")
        Output.line(
            "  fleetkey manifest import \(manifestFile.path) --dir \(url.path)-owner --crl \(url.path)/crl/vendor-acme-sensors.crl"
        )
        if generatedPassphrase {
            Output.line("")
            Output.line("The CA keys were sealed under a random passphrase that was not kept: set FLEETKEY_PASSPHRASE")
            Output.line("before running the demo to keep issuing from it.")
        }
    }

    private func progress(_ text: String) {
        if !json { Output.progress(text) }
    }
}
