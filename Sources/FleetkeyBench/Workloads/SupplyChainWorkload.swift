import FleetkeyCore
import FleetkeyCustody
import FleetkeyPKCS11
import FleetkeySQLite
import Foundation
import SwiftASN1
import X509

/// The factory line and the supply chain, in process, on the SQLite registry: provisioning into emulated secure
/// elements (files) and into SoftHSM2, then exporting the lot's signed manifest and importing it into a fresh
/// owner's registry.
///
/// Per device, provisioning costs three P-256 signatures (the request inside the element, the certificate, the
/// attestation inside the element) and two verifications (the request's proof of possession, the attestation), so
/// its crypto bound is 1 / (3/sign + 2/verify). An import verifies two signatures per device (certificate and
/// attestation); an export signs once for the whole lot.
enum SupplyChainWorkload {
    struct World {
        let directory: URL
        let registry: SQLiteRegistry
        let ecosystem: Ecosystem
        let authority: CertificateAuthority
        let vendor: VendorName
    }

    static func makeWorld(in directory: URL) async throws -> World {
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let registry = try SQLiteRegistry(path: directory.appendingPathComponent("registry.sqlite").path)
        let (ecosystem, authority) = try await BenchEcosystem.make(
            registry: registry, keys: directory.appendingPathComponent("keys"))
        return World(
            directory: directory, registry: registry, ecosystem: ecosystem, authority: authority,
            vendor: BenchEcosystem.vendor)
    }

    /// Provisions `count` devices of `lot` from `elements`; devices per second and peak memory.
    static func provision(
        _ world: World, lot: String, count: Int, elements: any SecureElementSource
    ) async throws -> (rate: Double, peakMiB: Double) {
        let line = try FactoryLine(
            ecosystem: world.ecosystem, supplyChain: world.registry, elements: elements, vendor: world.vendor, lot: lot)
        PeakMemory.reset()
        let (_, elapsed) = try await Stopwatch.secondsAsync { () async throws -> Void in
            for index in 1...count {
                guard try await line.provision(index, by: world.authority) == .provisioned else {
                    throw FleetkeyError(.conflict, "benchmark device \(index) of \(lot) was not new")
                }
            }
        }
        let provisioned = try await world.registry.lotSummaries(lot: lot).first?.devicesByState[.provisioned] ?? 0
        guard provisioned == count else {
            throw FleetkeyError(.storage, "benchmark provisioned \(count) but the registry holds \(provisioned)")
        }
        return (Double(count) / elapsed, PeakMemory.peakMiB())
    }

    /// A throwaway SoftHSM2 token for the elements; a `.configuration` error when SoftHSM2 is not installed.
    static func softHSMToken(in directory: URL) throws -> PKCS11ElementSource {
        let module = "/usr/lib/softhsm/libsofthsm2.so"
        guard FileManager.default.fileExists(atPath: module),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/softhsm2-util")
        else {
            throw FleetkeyError(.configuration, "SoftHSM2 is not installed (scripts/bench installs softhsm2)")
        }
        let tokens = directory.appendingPathComponent("tokens")
        try FileManager.default.createDirectory(at: tokens, withIntermediateDirectories: true)
        let configuration = directory.appendingPathComponent("softhsm2.conf")
        try "directories.tokendir = \(tokens.path)\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(to: configuration, atomically: true, encoding: .utf8)
        let pin = "bench-user-pin-" + Hex.lower(SystemRandomSource().bytes(count: 4))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/softhsm2-util")
        process.arguments = [
            "--init-token", "--free", "--label", "bench-elements", "--pin", pin, "--so-pin", pin + "-so",
        ]
        process.environment = ["SOFTHSM2_CONF": configuration.path, "PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FleetkeyError(.configuration, "softhsm2-util --init-token failed (exit \(process.terminationStatus))")
        }
        // SoftHSM2 reads its configuration from this process's environment when the module is loaded.
        setenv("SOFTHSM2_CONF", configuration.path, 1)
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = configuration.path
        environment["FLEETKEY_PKCS11_PIN"] = pin
        let uri = try PKCS11URI(parsing: "pkcs11:token=bench-elements?module-path=\(module)")
        return PKCS11ElementSource(
            token: uri, allowedModules: PKCS11ModuleAllowList([module]), environment: environment)
    }

    /// Exports the lot's manifest; devices per second, the manifest's size, and the bytes.
    static func export(_ world: World, lot: String) async throws -> (rate: Double, peakMiB: Double, bytes: [UInt8]) {
        guard let index = world.ecosystem.store as? any RevocationStore else {
            throw FleetkeyError(.configuration, "the benchmark registry cannot find the manifest signer")
        }
        let signer = try await world.ecosystem.delegatedSigner(
            vendor: world.vendor, profile: CertificateProfile.Name.manifestSigner, index: index)
        PeakMemory.reset()
        let (exported, elapsed) = try await Stopwatch.secondsAsync { () async throws -> ManifestExporter.Export in
            try await ManifestExporter(ecosystem: world.ecosystem, supplyChain: world.registry).export(
                vendor: world.vendor, lot: lot, buyer: "Bench Owner", signer: signer)
        }
        return (Double(exported.document.devices.count) / elapsed, PeakMemory.peakMiB(), exported.bytes)
    }

    /// Imports `manifest` into a fresh owner registry that trusts the world's root; devices per second.
    static func importManifest(_ world: World, manifest: [UInt8], devices: Int) async throws -> (
        rate: Double, peakMiB: Double
    ) {
        let owner = try await makeOwner(world)
        guard let rootRecord = try await world.registry.authority(id: "root") else {
            throw FleetkeyError(.notFound, "the benchmark ecosystem has no root")
        }
        let root = try Certificate(derEncoded: rootRecord.certificateDER)
        let importer = ManifestImporter(
            store: owner, verifier: ManifestVerifier(trustAnchor: root, now: Date()), actor: "bench")
        PeakMemory.reset()
        let (outcome, elapsed) = try await Stopwatch.secondsAsync { () async throws -> ManifestImporter.Outcome in
            try await importer.importManifest(manifest, owner: ownerName, status: .registry(world.registry))
        }
        guard case .imported(let imported) = outcome, imported.deviceCount == devices else {
            throw FleetkeyError(.storage, "the benchmark manifest was not imported whole: \(outcome)")
        }
        return (Double(devices) / elapsed, PeakMemory.peakMiB())
    }

    /// The owner the benchmark's lots are shipped to.
    static let ownerName = "Bench Owner"

    /// An owner's registry beside `world` (its own SQLite file) that trusts the world's root, with ``ownerName``.
    static func makeOwner(_ world: World) async throws -> SQLiteRegistry {
        let ownerDirectory = world.directory.appendingPathComponent("owner")
        try? FileManager.default.removeItem(at: ownerDirectory)
        try FileManager.default.createDirectory(at: ownerDirectory, withIntermediateDirectories: true)
        let owner = try SQLiteRegistry(path: ownerDirectory.appendingPathComponent("registry.sqlite").path)
        guard let rootRecord = try await world.registry.authority(id: "root") else {
            throw FleetkeyError(.notFound, "the benchmark ecosystem has no root")
        }
        let anchor = try TrustAnchor.records(try Certificate(derEncoded: rootRecord.certificateDER), at: Date())
        try await owner.createRoot(anchor.authority, certificate: anchor.certificate, key: anchor.key, events: [])
        try await owner.addOwner(OwnerRecord(name: ownerName, createdAt: Date()), events: [])
        return owner
    }
}
