import ArgumentParser
import Crypto
import FleetkeyCore
import Foundation
import SwiftASN1
import X509

struct ManifestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Signed supply-chain manifests: export a lot, import it on the owner's side.",
        subcommands: [ManifestExport.self, ManifestImport.self])
}

struct ManifestExport: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a lot's manifest, signed by the vendor's manifest-signing certificate (CMS SignedData, DER).",
        discussion: """
            Every provisioned device of the lot goes in, with its serial, hardwareModuleName, public key, certificate
            and its secure element's attestation; docs/manifests.md describes the format. Check it with
            openssl cms -verify -inform DER -in FILE -CAfile DIR/certs/root.pem -purpose any.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The vendor (default: the only vendor with this lot).") var vendor: String?
    @Option(help: "The lot to ship.") var lot: String
    @Option(help: "Where to write the manifest.") var out: String
    @Option(help: "The buyer's name, recorded in the manifest.") var buyer: String?
    @Flag(help: "Print the result as JSON.") var json = false

    struct Result: Encodable {
        var file: String
        var vendor: String
        var lot: String
        var devices: Int
        var skipped: [String: String]
        var sha256: String
        var bytes: Int
        var seconds: Double
    }

    func execute() async throws {
        let directory = location.directory
        _ = try LotName(lot, field: "--lot")
        if let buyer { _ = try OwnerName(buyer) }
        let store = try directory.openSupplyChainRegistry()
        let vendorName = try await LotShow.vendor(of: lot, named: vendor, in: store)
        let ecosystem = try directory.openEcosystem(passphrase: try directory.passphrase())
        guard let index = ecosystem.store as? any RevocationStore else {
            throw FleetkeyError(.configuration, "this registry cannot find the vendor's manifest signer")
        }
        let signer = try await ecosystem.delegatedSigner(
            vendor: vendorName, profile: CertificateProfile.Name.manifestSigner, index: index)
        let started = ContinuousClock.now
        let exported = try await ManifestExporter(ecosystem: ecosystem, supplyChain: store).export(
            vendor: vendorName, lot: lot, buyer: buyer, signer: signer)
        let url = URL(fileURLWithPath: out)
        try Data(exported.bytes).write(to: url, options: .atomic)
        let result = Result(
            file: url.path, vendor: vendorName.value, lot: lot, devices: exported.document.devices.count,
            skipped: Dictionary(uniqueKeysWithValues: exported.skipped.map { ($0.key.description, $0.value.rawValue) }),
            sha256: Hex.lower(SHA256.hash(data: exported.bytes)), bytes: exported.bytes.count,
            seconds: started.secondsUntilNow)
        if json {
            try Output.json(result)
        } else {
            Output.line(
                "Wrote the manifest of \(vendorName)/\(lot): \(result.devices) device(s), \(result.bytes) bytes")
            Output.line("  file     \(url.path)")
            Output.line("  sha256   \(result.sha256)")
            if !exported.skipped.isEmpty {
                Output.line("  left out \(exported.skipped.count) device(s) not provisioned, revoked or retired")
            }
        }
    }
}

struct ManifestImport: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Verify a manifest and import its devices as shipped to an owner: all of them, or none.",
        discussion: """
            Checks the CMS signature, the signer's chain to the trusted root and its revocation status, every entry's
            certificate, key and attestation, and duplicates inside the manifest and against the registry (a key
            under two identities is a clone; an identity with another key is a switched key). Any problem refuses the
            whole manifest with a report naming each bad entry, and nothing is imported. Importing the same manifest
            again changes nothing.

            Every certificate's revocation status is checked: the signer's and every device's against the vendor CA's
            CRLs, the vendor CA's against the root's; a revoked one refuses the manifest, and so does an unknown one.
            In an owner's directory (fleetkey owner init) the root is its trust anchor, and the status comes from the
            CRLs given with --crl; without --crl it is fetched from each certificate's CRL distribution point, or else
            its OCSP responder, and verified (--offline: never fetch). In an ecosystem's directory the registry knows
            every status.
            """)

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The manifest file.") var file: String
    @Option(help: "The owner the devices ship to (default: the owner of an owner's directory).") var owner: String?
    @Option(help: "A CRL (DER or PEM) for the signer's status; repeat for the vendor CA's and the root's.")
    var crl: [String] = []
    @Flag(help: "Never fetch status over the network: use --crl, or the registry of an ecosystem's directory.")
    var offline = false
    @Flag(help: "Print the result (or the refusal report) as JSON.") var json = false

    struct Result: Encodable {
        var outcome: String
        var owner: String
        var vendor: String?
        var lot: String?
        var devices: Int?
        var sha256: String?
        var report: ManifestReport?
    }

    func execute() async throws {
        let directory = location.directory
        let configuration = try directory.configuration()
        let store = try directory.openSupplyChainRegistry()
        guard let ownerName = owner ?? (configuration.role == "owner" ? configuration.name : nil) else {
            throw FleetkeyError(
                .invalidArgument, "--owner is needed in an ecosystem's directory: the owner the devices ship to")
        }
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw FleetkeyError(.invalidArgument, "cannot read the manifest file '\(file)'")
        }
        guard let root = try await store.authority(id: "root") else {
            throw FleetkeyError(.configuration, "this registry has no trusted root")
        }
        let crls = try crl.map { path -> [UInt8] in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FleetkeyError(.invalidArgument, "cannot read the CRL file '\(path)'")
            }
            return try PEMOrDER.der(Array(data), label: "X509 CRL", source: "--crl \(path)")
        }
        let source: StatusEvidence
        if !crls.isEmpty || (offline && configuration.role == "owner") {
            source = .crls(crls)
        } else if configuration.role != "owner", let registry = store as? any RevocationStore {
            source = .registry(registry)
        } else {
            source = .fetched(HTTPStatusFetcher())
        }
        let importer = ManifestImporter(
            store: store,
            verifier: ManifestVerifier(
                trustAnchor: try Certificate(derEncoded: root.certificateDER), now: Runtime.clock.now()),
            actor: Actor.current)
        if !json { Output.progress("verifying \(file) (\(bytes.count) bytes) for owner '\(ownerName)' ...") }
        switch try await importer.importManifest(Array(bytes), owner: ownerName, status: source) {
        case .imported(let manifest):
            if json {
                try Output.json(
                    Result(
                        outcome: "imported", owner: ownerName, vendor: manifest.vendor.value, lot: manifest.lot,
                        devices: manifest.deviceCount, sha256: manifest.digest))
            } else {
                Output.line(
                    "Imported \(manifest.deviceCount) device(s) of \(manifest.vendor)/\(manifest.lot) as shipped to "
                        + "'\(ownerName)'")
                Output.line("  sha256  \(manifest.digest)")
            }
        case .alreadyImported(let manifest):
            if json {
                try Output.json(
                    Result(
                        outcome: "already-imported", owner: manifest.owner, vendor: manifest.vendor.value,
                        lot: manifest.lot, devices: manifest.deviceCount, sha256: manifest.digest))
            } else {
                Output.line(
                    "Already imported (sha256 \(manifest.digest), for '\(manifest.owner)' at "
                        + "\(ISO8601DateFormatter().string(from: manifest.importedAt))): nothing changed")
            }
        case .rejected(let report):
            if json {
                try Output.json(Result(outcome: "rejected", owner: ownerName, report: report))
            }
            throw report.rejection()
        }
    }
}
