import FleetkeyCore
import FleetkeySQLite
import Foundation
import Testing

/// The factory and the supply chain through the real CLI: a lot provisioned into emulated secure elements, its
/// manifest checked by `openssl cms -verify`, and imported into an owner's registry made by `fleetkey owner init`.
@Suite("Factory provisioning and supply-chain manifests through the CLI", .serialized)
struct SupplyChainCLITests {
    struct Imported: Decodable {
        var outcome: String
        var devices: Int?
        var report: ManifestReport?
    }

    struct Device: Decodable, Equatable {
        var serial: String
        var state: String
        var owner: String?
        var attested: Bool
        var lot: String?
    }

    @Test("1,000 devices provisioned, exported, verified by openssl, and imported whole into a new owner's registry")
    func thousandDevices() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let provisioned = try eco.fleetkey([
            "factory", "provision", "--vendor", "Acme", "--lot", "L1", "--count", "1000", "--json",
        ])
        expectSuccess(provisioned)
        #expect(provisioned.stdout.contains("\"provisioned\" : 1000"), "\(provisioned.stdout)")
        let manifest = eco.file("L1.manifest")
        expectSuccess(try eco.fleetkey(["manifest", "export", "--lot", "L1", "--out", manifest]))

        // An independent check of the CMS signature and of the signer's chain to the root.
        let content = eco.file("L1.json")
        let openssl = try Tools.run(
            "openssl",
            [
                "cms", "-verify", "-inform", "DER", "-in", manifest, "-CAfile", eco.rootPEM, "-purpose", "any", "-out",
                content,
            ])
        #expect(openssl.status == 0 && openssl.stderr.contains("Verification successful"), "\(openssl.output)")
        let document = try ManifestDocument.decode(Array(try Data(contentsOf: URL(fileURLWithPath: content))))
        #expect(document.devices.count == 1_000 && document.vendor == "Acme" && document.lot == "L1")

        // The owner's side: a registry that trusts the root and holds no CA key.
        expectSuccess(try eco.fleetkey(["crl", "publish", "--out", eco.file("crl")]))
        let owner = eco.file("owner")
        expectSuccess(
            try eco.fleetkey(["owner", "init", "--dir", owner, "--name", "Globex-Ops", "--trust-anchor", eco.rootPEM]))
        #expect(!FileManager.default.fileExists(atPath: "\(owner)/keys"))
        let importArguments = [
            "manifest", "import", manifest, "--dir", owner, "--crl", eco.file("crl/vendor-acme.crl"), "--crl",
            eco.file("crl/root.crl"), "--json",
        ]
        let imported = try eco.fleetkey(importArguments)
        expectSuccess(imported)
        #expect(try JSONDecoder().decode(Imported.self, from: Data(imported.stdout.utf8)).devices == 1_000)
        let listed = try eco.fleetkey(["device", "list", "--dir", owner, "--json"])
        let devices = try JSONDecoder().decode([Device].self, from: Data(listed.stdout.utf8))
        #expect(devices.count == 1_000)
        #expect(
            devices.allSatisfy { $0.state == "shipped" && $0.owner == "Globex-Ops" && $0.attested && $0.lot == "L1" })
        #expect(Set(devices.map(\.serial)) == Set((1...1_000).map { String(format: "L1-%06d", $0) }))
        let again = try eco.fleetkey(importArguments)
        expectSuccess(again)
        #expect(again.stdout.contains("already-imported"))

        // One byte of one entry changed: refused, the report names that entry, and the registry is unchanged.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: manifest)))
        let entry = Array(document.devices[500].attestation.utf8)
        let at = try #require(Self.find(entry, in: bytes)) + 40
        bytes[at] = bytes[at] == UInt8(ascii: "Q") ? UInt8(ascii: "R") : UInt8(ascii: "Q")
        let tampered = eco.file("tampered.manifest")
        try Data(bytes).write(to: URL(fileURLWithPath: tampered))
        let fresh = eco.file("owner2")
        expectSuccess(
            try eco.fleetkey(["owner", "init", "--dir", fresh, "--name", "Initech", "--trust-anchor", eco.rootPEM]))
        for registry in [owner, fresh] {
            let before = try eco.fleetkey(["device", "list", "--dir", registry, "--json"]).stdout
            let refused = try eco.fleetkey(
                ["manifest", "import", tampered, "--dir", registry, "--crl", eco.file("crl/vendor-acme.crl")])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("error [manifest-rejected]"), "\(refused.stderr)")
            #expect(refused.stderr.contains("entry 500 (serial L1-000501): [attestation]"), "\(refused.stderr)")
            #expect(refused.stderr.contains("nothing was imported"))
            #expect(try eco.fleetkey(["device", "list", "--dir", registry, "--json"]).stdout == before)
        }
        let lot = try eco.fleetkey(["lot", "show", "L1", "--dir", owner, "--json"])
        #expect(lot.stdout.contains("\"shipped\" : 1000") && lot.stdout.contains("Globex-Ops"), "\(lot.output)")
    }

    @Test("a manifest signed under another root is refused, and so is one whose signer's status is unknown")
    func foreignSigner() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let other = try CLIEcosystem(vendors: ["Acme"])
        expectSuccess(try other.fleetkey(["factory", "provision", "--vendor", "Acme", "--lot", "X1", "--count", "3"]))
        let foreign = other.file("X1.manifest")
        expectSuccess(try other.fleetkey(["manifest", "export", "--lot", "X1", "--out", foreign]))
        expectSuccess(try other.fleetkey(["crl", "publish", "--out", other.file("crl")]))
        let owner = eco.file("owner")
        expectSuccess(
            try eco.fleetkey(["owner", "init", "--dir", owner, "--name", "Globex-Ops", "--trust-anchor", eco.rootPEM]))
        let refused = try eco.fleetkey(
            ["manifest", "import", foreign, "--dir", owner, "--crl", other.file("crl/vendor-acme.crl")])
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("[chain]") && refused.stderr.contains("does not chain to the trusted root"),
            "\(refused.stderr)")
        // openssl agrees.
        let openssl = try Tools.run(
            "openssl",
            [
                "cms", "-verify", "-inform", "DER", "-in", foreign, "-CAfile", eco.rootPEM, "-purpose", "any", "-out",
                "/dev/null",
            ])
        #expect(openssl.status != 0)

        // Without the vendor CA's CRL, an owner cannot know the signer is not revoked: refused, saying what to give.
        expectSuccess(try eco.fleetkey(["factory", "provision", "--vendor", "Acme", "--lot", "A1", "--count", "2"]))
        let own = eco.file("A1.manifest")
        expectSuccess(try eco.fleetkey(["manifest", "export", "--lot", "A1", "--out", own]))
        let unknown = try eco.fleetkey(["manifest", "import", own, "--dir", owner])
        #expect(unknown.status == 1 && unknown.stderr.contains("[signer-status]") && unknown.stderr.contains("--crl"))
        #expect(try eco.fleetkey(["device", "list", "--dir", owner, "--json"]).stdout.contains("[\n\n]"))
    }

    @Test("provisioning killed mid-lot resumes: every device once, one certificate each, no element left half-done")
    func interruptedAndResumed() async throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let arguments = ["factory", "provision", "--vendor", "Acme", "--lot", "R1", "--count", "400"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tools.fleetkey)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in eco.environment { environment[key] = value }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Watched through the element files (cheap to count), killed early in the lot. The wait blocks this thread
        // on purpose: a task sleeping on a busy test machine can wake after the whole lot is done.
        let elementDirectory = "\(eco.dir)/elements/vendor-acme"
        var done = 0
        for _ in 0..<30_000 where done < 15 {
            usleep(2_000)
            done = (try? FileManager.default.contentsOfDirectory(atPath: elementDirectory).count) ?? 0
        }
        #expect(done >= 15, "the lot was under way before the kill")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let registry = try SQLiteRegistry(path: "\(eco.dir)/registry.sqlite")
        let killedAt = try await registry.devices(matching: DeviceFilter(lot: "R1")).count
        #expect(killedAt < 400, "the run was stopped before the end")

        let resumed = try eco.fleetkey(arguments + ["--json"])
        expectSuccess(resumed)
        let devices = try await registry.devices(matching: DeviceFilter(lot: "R1"))
        #expect(devices.count == 400)
        #expect(devices.allSatisfy { $0.state == .provisioned && $0.attestation != nil })
        // One identity certificate per device (plus the vendor's OCSP-responder and manifest-signer certificates).
        #expect(try await registry.certificateCount(issuer: "vendor-acme") == 400 + 2)
        // One element per device (a kill during a state write may leave the emulator's hidden temporary file).
        let elements = try FileManager.default.contentsOfDirectory(atPath: "\(eco.dir)/elements/vendor-acme")
            .filter { $0.hasSuffix(".se.json") && !$0.hasPrefix(".") }
        #expect(elements.count == 400)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count, let first = needle.first else { return nil }
        var start = 0
        while start <= haystack.count - needle.count {
            if haystack[start] == first, Array(haystack[start..<(start + needle.count)]) == needle { return start }
            start += 1
        }
        return nil
    }
}

/// The factory line with its secure elements on a real PKCS#11 token (SoftHSM2 standing in for a bench of
/// elements): keys made on the token, never extractable, and the manifest verifies like the emulator's.
@Suite("Factory provisioning into PKCS#11 secure elements (SoftHSM2)")
struct PKCS11FactoryTests {
    @Test("a lot provisioned onto a token: attested, exported, and openssl verifies the manifest")
    func provisionOnToken() throws {
        let hsm = try SoftHSMTokens(labels: ["factory-bench"])
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let token = "pkcs11:token=factory-bench?module-path=\(SoftHSMTokens.modulePath)"
        let provisioned = try eco.fleetkey(
            ["factory", "provision", "--vendor", "Acme", "--lot", "P1", "--count", "5", "--element", token, "--json"],
            environment: hsm.environment)
        expectSuccess(provisioned)
        #expect(provisioned.stdout.contains("\"provisioned\" : 5"), "\(provisioned.output)")
        // A rerun finds every element on the token and does nothing twice.
        let rerun = try eco.fleetkey(
            ["factory", "provision", "--vendor", "Acme", "--lot", "P1", "--count", "5", "--element", token, "--json"],
            environment: hsm.environment)
        #expect(rerun.stdout.contains("\"alreadyProvisioned\" : 5"), "\(rerun.output)")
        let listed = try eco.fleetkey(["device", "list", "--lot", "P1", "--json"])
        #expect(listed.stdout.components(separatedBy: "\"attested\" : true").count - 1 == 5)
        let manifest = eco.file("P1.manifest")
        expectSuccess(try eco.fleetkey(["manifest", "export", "--lot", "P1", "--out", manifest]))
        let openssl = try Tools.run(
            "openssl",
            [
                "cms", "-verify", "-inform", "DER", "-in", manifest, "-CAfile", eco.rootPEM, "-purpose", "any", "-out",
                "/dev/null",
            ])
        #expect(openssl.status == 0, "\(openssl.output)")
        // Without the PIN the token cannot be used, and the error says where the PIN comes from.
        let noPIN = try eco.fleetkey(
            ["factory", "provision", "--vendor", "Acme", "--lot", "P2", "--count", "1", "--element", token],
            environment: ["SOFTHSM2_CONF": hsm.configuration])
        #expect(noPIN.status == 1 && !noPIN.stderr.contains(SoftHSMTokens.pin), "\(noPIN.stderr)")
    }
}
