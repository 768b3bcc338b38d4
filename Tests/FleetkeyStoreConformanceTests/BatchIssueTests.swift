import FleetkeyCore
import FleetkeyPostgres
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

/// `fleetkey issue --csr-dir DIR --out-dir OUT`, on either registry: what the multi-process tests rely on.
@Suite("Batch issuance from the CLI")
struct BatchIssueTests {
    /// An ecosystem of `kind`: SQLite in its directory, or a new PostgreSQL database.
    static func ecosystem(_ kind: StoreKind) async throws -> (CLIEcosystem, PostgresLocation?) {
        guard kind == .postgres else { return (try await CLIEcosystem(database: nil), nil) }
        let database = try await TestPostgres.createDatabase()
        return (try await CLIEcosystem(database: database.url), database)
    }

    @Test(
        "every request in the directory is issued, written as <name>.pem, and reported", arguments: StoreKind.allCases)
    func batch(_ kind: StoreKind) async throws {
        let (eco, database) = try await Self.ecosystem(kind)
        let requests = try await eco.requests("in", prefix: "BATCH", count: 30)
        // Files that are not requests are left alone.
        try Data("notes".utf8).write(to: requests.appendingPathComponent("README.txt"))
        let out = eco.root.path("out")
        let result = try await eco.fleetkey([
            "issue", "--vendor", "Acme", "--csr-dir", requests.path, "--out-dir", out, "--lot", "B", "--json",
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.contains("issue: 30/30 requests, 30 issued, 0 refused"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let issued = try #require(report["issued"] as? [[String: String]])
        #expect(issued.count == 30 && (report["refused"] as? [Any])?.isEmpty == true)
        #expect(issued.first?["device"] == "Acme/BATCH-00000")
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == (0..<30).map { "BATCH-" + String(format: "%05d", $0) + ".pem" })
        // Each file holds the certificate the report names, for the device its request named.
        for entry in issued.prefix(5) {
            let certificate = try Certificate(
                pemEncoded: try String(contentsOfFile: entry["certificate"]!, encoding: .utf8))
            #expect(certificate.serialNumber.hexString == entry["serial"])
            #expect(
                certificate.subject.description.contains(entry["device"]!.replacingOccurrences(of: "Acme/", with: "")))
        }
        let listed = try await eco.fleetkey(["device", "list", "--lot", "B", "--json"])
        #expect(listed.status == 0)
        #expect((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [Any])?.count == 30)

        // The same requests again: every device is already provisioned. Without --keep-going the batch stops at
        // the first, naming it; with it, each is refused and the batch says how many.
        let again = try await eco.fleetkey([
            "issue", "--vendor", "Acme", "--csr-dir", requests.path, "--out-dir", out + "2",
        ])
        #expect(again.status != 0)
        #expect(again.stderr.contains("error [invalid-transition]: request '\(requests.path)/BATCH-00000.csr'"))
        #expect(again.stderr.contains("(0 of 30 issued before it"), "\(again.stderr)")
        let keepGoing = try await eco.fleetkey([
            "issue", "--vendor", "Acme", "--csr-dir", requests.path, "--out-dir", out + "3", "--keep-going",
        ])
        #expect(keepGoing.status != 0)
        #expect(keepGoing.stderr.components(separatedBy: "error [invalid-transition]").count - 1 == 30)
        #expect(keepGoing.stderr.contains("30 of 30 request(s) were refused, 0 issued"))
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out + "3"))?.isEmpty ?? true)
        if let database { await TestPostgres.dropDatabase(database) }
    }

    @Test("bad batch options are refused with the rule named, before anything is issued")
    func badOptions() async throws {
        let (eco, _) = try await Self.ecosystem(.sqlite)
        let requests = try await eco.requests("in", prefix: "OPT", count: 1)
        let empty = eco.root.url.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let clash = try await eco.requests("clash", prefix: "CLASH", count: 1)
        try FileManager.default.copyItem(
            at: clash.appendingPathComponent("CLASH-00000.csr"), to: clash.appendingPathComponent("CLASH-00000.der"))
        let out = eco.root.path("out")
        for (arguments, says) in [
            (["--csr-dir", requests.path], "--csr-dir needs --out-dir"),
            (
                ["--csr-dir", requests.path, "--out-dir", out, "--out", "x.pem"],
                "--csr-dir takes neither --csr nor --out"
            ),
            (["--csr-dir", requests.path, "--out-dir", out, "--hw-serial", "SE-1"], "each request must carry its own"),
            (["--csr", requests.appendingPathComponent("OPT-00000.csr").path, "--out-dir", out], "go with --csr-dir"),
            ([], "name the request: --csr FILE, or --csr-dir DIR --out-dir DIR"),
            (["--csr-dir", empty.path, "--out-dir", out], "holds no request"),
            (["--csr-dir", eco.root.path("missing"), "--out-dir", out], "is not a readable directory"),
            (["--csr-dir", clash.path, "--out-dir", out], "would both be written to CLASH-00000.pem"),
        ] {
            let result = try await eco.fleetkey(["issue", "--vendor", "Acme"] + arguments)
            #expect(
                result.status != 0 && result.stderr.contains("error [invalid-argument]"),
                "\(arguments): \(result.output)")
            #expect(result.stderr.contains(says), "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        let listed = try await eco.fleetkey(["device", "list", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [Any])?.isEmpty == true)
    }
}
