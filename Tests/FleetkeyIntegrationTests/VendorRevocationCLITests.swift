import FleetkeyCore
import FleetkeySQLite
import Foundation
import Testing

/// What an operator saw by hand (issue 11, item 2): `revoke --vendor` a few seconds into a 1,500-device factory run
/// revoked what was made so far, and the run went on under the revoked CA. Now the run stops at its next issuance.
@Suite("Revoking a vendor stops its running factory")
struct VendorRevocationCLITests {
    @Test("revoke --vendor during factory provision: the run stops, and no certificate under the vendor stays valid")
    func factoryStops() async throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tools.fleetkey)
        process.arguments = ["factory", "provision", "--vendor", "Acme", "--lot", "F1", "--count", "1500"]
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in eco.environment { environment[key] = value }
        process.environment = environment
        let log = eco.file("factory.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        process.standardError = handle
        try process.run()
        // Watched through the element files, revoked once the lot is under way. Blocking this thread on purpose: a
        // task sleeping on a busy machine could wake after the whole lot is done.
        let elements = "\(eco.dir)/elements/vendor-acme"
        var made = 0
        for _ in 0..<60_000 where made < 20 && process.isRunning {
            usleep(2_000)
            made = (try? FileManager.default.contentsOfDirectory(atPath: elements).count) ?? 0
        }
        #expect(made >= 20, "the lot was under way before the revocation")
        expectSuccess(try eco.fleetkey(["revoke", "--vendor", "Acme", "--reason", "cACompromise"]))
        process.waitUntilExit()
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 1, "the factory run went on after the revocation: \(stderr)")
        #expect(stderr.contains("revoked"), "\(stderr)")

        let registry = try SQLiteRegistry(path: "\(eco.dir)/registry.sqlite")
        let store: any RevocationStore = registry
        let certificates = try await store.certificateRefs(.issuer("vendor-acme"))
        #expect(certificates.count < 1500 + 2, "the whole lot was issued before the revocation took effect")
        #expect(certificates.allSatisfy { $0.status == .revoked })
        let devices = try await (registry as any RegistryStore).devices(matching: DeviceFilter(lot: "F1"))
        #expect(devices.allSatisfy { $0.state == .revoked }, "\(Set(devices.map(\.state)))")
    }
}
