import Foundation
import Testing

/// SQLite's durability as the kernel sees it (issue 11, item 8): with `synchronous=FULL`, the write-ahead log is
/// synced before any certificate recorded in it is handed out, so a power loss cannot lose a certificate that left.
@Suite("The registry is durable against power loss")
struct RegistryDurabilityTests {
    @Test("50 issuances under strace: the WAL is synced after each certificate's record and before it is written out")
    func walSyncedBeforeEachCertificate() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let requests = eco.file("requests")
        try FileManager.default.createDirectory(atPath: requests, withIntermediateDirectories: true)
        for index in 0..<50 {
            let request = try eco.opensslRequest(
                name: "wal-\(index)", subject: "/O=Acme/serialNumber=WAL-\(String(format: "%03d", index))")
            try FileManager.default.moveItem(atPath: request, toPath: "\(requests)/wal-\(index).csr")
        }
        let out = eco.file("issued")
        let (result, calls) = try Strace.run(
            [Tools.fleetkey, "issue", "--vendor", "Acme", "--csr-dir", requests, "--out-dir", out],
            calls: ["pwrite64", "fsync", "fdatasync", "openat", "rename", "renameat", "renameat2"],
            showingPaths: true, environment: eco.environment, in: URL(fileURLWithPath: eco.file("")))
        #expect(result.status == 0, "\(result.output)")

        let wal = "registry.sqlite-wal>"
        var unsynced = false
        var handedOut = 0
        var everSynced = false
        for call in calls {
            let onWAL = call.arguments.prefix { $0 != "," }.hasSuffix(wal)
            if call.name == "pwrite64" && onWAL {
                unsynced = true
            } else if (call.name == "fsync" || call.name == "fdatasync") && onWAL && call.result == "0" {
                unsynced = false
                everSynced = true
            } else if Self.writesOut(call, into: out) {
                // A certificate becomes visible in OUT: every WAL frame written before it must already be synced.
                #expect(!unsynced, "a certificate was written out before the WAL holding its record was synced")
                handedOut += 1
            }
        }
        #expect(everSynced, "the WAL was never synced")
        #expect(handedOut >= 50, "only \(handedOut) certificates were seen being written out")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".pem") }.count == 50)
    }

    /// The call that makes a certificate file appear in `directory`: opening a new file there, or renaming one into
    /// place (an atomic write).
    static func writesOut(_ call: Strace.Call, into directory: String) -> Bool {
        switch call.name {
        case "openat": call.arguments.contains("\"\(directory)/") && call.arguments.contains("O_CREAT")
        case "rename", "renameat", "renameat2": call.arguments.contains("\"\(directory)/")
        default: false
        }
    }
}
