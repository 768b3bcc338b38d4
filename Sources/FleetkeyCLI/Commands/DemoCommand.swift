import ArgumentParser
import FleetkeyCore
import FleetkeyCustody
import FleetkeySQLite
import Foundation
import X509

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct DemoCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a small ecosystem from nothing: a root, two vendors and a handful of devices.",
        discussion: """
            Uses the embedded defaults (SQLite registry, encrypted software keystore). The keystore passphrase is
            FLEETKEY_PASSPHRASE when set; otherwise the demo makes a random one and keeps it in the file
            DIR/DEMO-ONLY-passphrase (mode 0600), which the commands it prints read. That file is for demos only: a
            real ecosystem's passphrase is never written down next to its keys.
            """)

    @Option(help: "Where to build the demo ecosystem (default: a new directory under the system temp dir).")
    var dir: String?
    @Option(help: "Devices per vendor.") var devices = 3
    @Flag(help: "Print the result as JSON.") var json = false

    /// The demo's passphrase file, inside the demo directory.
    static let passphraseFile = "DEMO-ONLY-passphrase"

    struct Result: Encodable {
        var directory: String
        var root: String
        var vendors: [String: String]
        var devices: [String]
        var verify: String
        var manifest: String
        var verifyManifest: String
        var passphraseFile: String?
        var commands: [String]
    }

    func execute() async throws {
        let url: URL
        if let dir {
            url = URL(fileURLWithPath: dir, isDirectory: true).standardizedFileURL
        } else {
            url = FileManager.default.temporaryDirectory.appendingPathComponent(
                "fleetkey-demo-\(Hex.lower(Runtime.random.bytes(count: 4)))", isDirectory: true)
        }
        let directory = EcosystemDirectory(url: url)
        guard !directory.exists else {
            throw FleetkeyError(.alreadyExists, "\(url.path) already holds an ecosystem; give the demo a new --dir")
        }
        guard (1...1000).contains(devices) else {
            throw FleetkeyError(.invalidArgument, "--devices must be between 1 and 1000")
        }
        let policy = try EcosystemPolicy.founding(
            ecosystem: "Demo Ecosystem", baseURL: "http://127.0.0.1:8080", random: Runtime.random)
        let (passphrase, generated) = try PassphraseSource.forDemo(random: Runtime.random)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        var passphraseFile: String?
        if let generated {
            try Self.writePrivately(generated + "\n", to: url.appendingPathComponent(Self.passphraseFile))
            passphraseFile = Self.passphraseFile
        }
        try policy.encoded().write(to: directory.policyURL, options: .atomic)
        let registry = try SQLiteRegistry(path: directory.registryURL.path)
        let cost = ScryptCost.standard
        let ecosystem = Ecosystem(
            policy: policy, store: registry,
            custody: try SoftwareKeystore(directory: directory.keysURL, passphrase: passphrase, cost: cost),
            clock: Runtime.clock, random: Runtime.random, actor: "demo")
        let fleet = try await DemoEcosystem(ecosystem: ecosystem, supplyChain: registry).build(
            devicesPerVendor: devices,
            elements: { vendor in
                EmulatedElementSource(
                    directory: url.appendingPathComponent("elements").appendingPathComponent(vendor.authorityID))
            },
            progress: { if !json { Output.progress($0) } })

        let rootFile = try directory.publish(try fleet.root.pemString(), as: "root.pem")
        var vendorFiles: [String: String] = [:]
        for setup in fleet.vendors {
            vendorFiles[setup.vendor.name.value] =
                try directory.publish(try setup.caCertificate.pemString(), as: "\(setup.vendor.authorityID).pem").path
        }
        let devicesURL = directory.certsURL.appendingPathComponent("devices")
        try FileManager.default.createDirectory(at: devicesURL, withIntermediateDirectories: true)
        var deviceFiles: [String] = []
        for (vendor, certificate) in fleet.devices {
            let serial = (try? SubjectName(certificate.subject, field: "device").values(.serialNumber).first) ?? nil
            let file = devicesURL.appendingPathComponent(
                "\(vendor.slug)-\(serial ?? certificate.serialNumber.description).pem")
            try Data((try certificate.pemString() + "\n").utf8).write(to: file, options: .atomic)
            deviceFiles.append(file.path)
        }
        let manifestFile = url.appendingPathComponent("\(DemoEcosystem.factoryLot).manifest")
        try Data(fleet.manifest.bytes).write(to: manifestFile, options: .atomic)
        // Written last: its presence is what marks a complete ecosystem.
        try directory.writeConfiguration(
            .init(
                format: 1, name: policy.ecosystem, registry: "registry.sqlite", keystore: "keys",
                scryptLog2N: cost.log2N, createdAt: Runtime.clock.now(), demoPassphraseFile: passphraseFile))

        let acme = try VendorName(DemoEcosystem.vendors[0].name)
        let verify = "openssl verify -CAfile \(rootFile.path) -untrusted \(vendorFiles[acme.value]!) \(deviceFiles[0])"
        let verifyManifest =
            "openssl cms -verify -inform DER -in \(manifestFile.path) -CAfile \(rootFile.path) -purpose any -out /dev/null"
        let explore = [
            "fleetkey device list --dir \(url.path)",
            "fleetkey cert show --dir \(url.path) \(deviceFiles[0])",
            "fleetkey lot show \(DemoEcosystem.factoryLot) --dir \(url.path)",
        ]
        let supplyChain = [
            "fleetkey owner init --dir \(url.path)-owner --name Buyer --trust-anchor \(rootFile.path)",
            "fleetkey crl publish --dir \(url.path) --out \(url.path)/crl",
            "fleetkey manifest import \(manifestFile.path) --dir \(url.path)-owner --crl \(url.path)/crl/root.crl "
                + "--crl \(url.path)/crl/\(acme.authorityID).crl",
        ]
        if json {
            try Output.json(
                Result(
                    directory: url.path, root: rootFile.path, vendors: vendorFiles, devices: deviceFiles,
                    verify: verify, manifest: manifestFile.path, verifyManifest: verifyManifest,
                    passphraseFile: passphraseFile.map { url.appendingPathComponent($0).path },
                    commands: explore + supplyChain))
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
        for command in explore { Output.line("  \(command)") }
        Output.line("A factory lot's signed manifest (docs/manifests.md), and how a buyer checks and imports it:")
        Output.line("  \(verifyManifest)")
        for command in supplyChain { Output.line("  \(command)") }
        if let passphraseFile {
            Output.line("")
            Output.line("The CA keys are sealed under a random passphrase kept in \(url.path)/\(passphraseFile)")
            Output.line("(mode 0600), which the commands above read. It is there for this demo only: a real")
            Output.line("ecosystem keeps its passphrase out of its directory (FLEETKEY_PASSPHRASE or the terminal).")
        }
    }

    /// Writes `text` to a new file only its owner can read, refusing to replace an existing one.
    static func writePrivately(_ text: String, to file: URL) throws {
        let descriptor = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw FleetkeyError(.storage, "cannot create \(file.path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw FleetkeyError(.storage, "cannot write \(file.path): \(String(cString: strerror(errno)))")
        }
    }
}
