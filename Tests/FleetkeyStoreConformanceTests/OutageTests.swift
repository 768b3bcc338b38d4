import FleetkeyCore
import FleetkeyPostgres
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

/// A PostgreSQL cluster of this test's own (scripts/postgres), so that killing it disturbs no other test.
///
/// It lives under FLEETKEY_TEST_POSTGRES_SCRATCH when scripts/test sets it (so the script stops it even if this
/// process dies), with a short name: the server's Unix socket path must stay under 108 bytes.
final class PrivateCluster {
    let directory: ClusterDirectory
    private(set) var location: PostgresLocation

    /// The cluster's directory, removed when the test is done with it.
    final class ClusterDirectory {
        let url: URL
        init() throws {
            let base = ProcessInfo.processInfo.environment["FLEETKEY_TEST_POSTGRES_SCRATCH"] ?? NSTemporaryDirectory()
            url = URL(fileURLWithPath: base, isDirectory: true)
                .appendingPathComponent("pg-" + UUID().uuidString.prefix(8).lowercased())
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    private init(directory: ClusterDirectory, location: PostgresLocation) {
        self.directory = directory
        self.location = location
    }

    static func start() async throws -> PrivateCluster {
        let directory = try ClusterDirectory()
        let started = try await script(["start", directory.url.path], logs: directory)
        guard started.status == 0, let line = started.stdout.split(separator: "\n").last,
            line.hasPrefix("FLEETKEY_TEST_POSTGRES_URL=")
        else {
            throw FleetkeyError(.storage, "scripts/postgres start failed: \(started.output)")
        }
        // Short timeouts, so that a dead server is reported in seconds: for a connection, and for an answer (a
        // query sent as the server dies can otherwise wait forever inside postgres-nio).
        let url = line.dropFirst("FLEETKEY_TEST_POSTGRES_URL=".count) + "?connect_timeout=3&query_timeout=10"
        return PrivateCluster(directory: directory, location: try PostgresLocation(url: String(url)))
    }

    /// `pg_ctl stop -m immediate`: every server process is killed at once, as in a crash.
    func kill() async throws {
        let stopped = try await Self.script(["stop", directory.url.path, "immediate"], logs: directory)
        guard stopped.status == 0 else {
            throw FleetkeyError(.storage, "scripts/postgres stop failed: \(stopped.output)")
        }
    }

    /// Starts it again, on the same port and data directory (crash recovery replays the WAL).
    func restart() async throws {
        let started = try await Self.script(["start", directory.url.path], logs: directory)
        guard started.status == 0 else {
            throw FleetkeyError(.storage, "scripts/postgres start failed: \(started.output)")
        }
    }

    func stop() async {
        _ = try? await Self.script(["stop", directory.url.path, "fast"], logs: directory)
    }

    private static func script(_ arguments: [String], logs: ClusterDirectory) async throws -> FleetkeyProcess.Outcome {
        let logDirectory = logs.url.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        return try await FleetkeyProcess(
            arguments, environment: [:], logs: logDirectory,
            executable: FleetkeyProcess.packageRoot.appendingPathComponent("scripts/postgres").path
        ).outcome(within: .seconds(120))
    }
}

@Suite("PostgreSQL killed during a burst of issuance", .timeLimit(.minutes(10)))
struct OutageTests {
    @Test("issuance fails clearly, nothing is handed out unrecorded, and issuance recovers when PostgreSQL returns")
    func killedDuringBurst() async throws {
        let cluster = try await PrivateCluster.start()
        do {
            try await burst(on: cluster)
            await cluster.stop()
        } catch {
            await cluster.stop()
            throw error
        }
    }

    func burst(on cluster: PrivateCluster) async throws {
        let database = try await TestPostgres.createDatabase(on: cluster.location)
        let eco = try await CLIEcosystem(database: database.url)
        let count = 3_000
        let requests = try await eco.requests("burst", prefix: "B", count: count)
        let out = eco.root.url.appendingPathComponent("burst-out")
        // A long-running holder of the registry too, as `fleetkey serve` would be.
        let server = try PostgresRegistry(location: database, password: nil)
        server.start()
        #expect(try await server.vendors().count == 1)

        let process = try eco.start(["issue", "--vendor", "Acme", "--csr-dir", requests.path, "--out-dir", out.path])
        var written = 0
        for _ in 0..<1_200 where written < 100 {
            try await Task.sleep(for: .milliseconds(50))
            written = (try? FileManager.default.contentsOfDirectory(atPath: out.path).count) ?? 0
        }
        #expect(written >= 100, "the burst was under way before the kill")
        try await cluster.kill()
        let outcome = await process.outcome(within: .seconds(60))

        // The batch stops with a clear error that names the database and says nothing was handed out.
        #expect(
            outcome.status != 0 && !outcome.killedBySignal, "exit \(outcome.status), signal \(outcome.killedBySignal)")
        #expect(outcome.stderr.contains("error [storage]"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains(database.url), "\(outcome.stderr)")
        #expect(
            outcome.stderr.contains("nothing was recorded")
                || outcome.stderr.contains("may or may not have been recorded"),
            "\(outcome.stderr)")
        #expect(outcome.stderr.contains("issued before it, each recorded and written to"), "\(outcome.stderr)")
        // While it is down, the long-running holder gets the same kind of error, not a hang (the suite's time limit
        // catches a hang; a stopwatch here would only measure how loaded the machine is).
        let down = await #expect(throws: FleetkeyError(.storage, "")) { _ = try await server.vendors() }
        #expect(down?.reason.contains(database.url) == true, "\(String(describing: down))")

        try await cluster.restart()
        // No certificate was handed out unrecorded: every file the process wrote has its row.
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".pem") }
        #expect(files.count < count, "the process stopped at the kill rather than finishing")
        var handedOut = Set<String>()
        for file in files {
            let pem = try String(contentsOf: out.appendingPathComponent(file), encoding: .utf8)
            handedOut.insert(try Certificate(pemEncoded: pem).serialNumber.hexString)
        }
        let recorded = Set(
            try await TestPostgres.strings(
                "SELECT serial FROM certificates WHERE profile = 'device-identity'", on: database))
        #expect(
            handedOut.isSubset(of: recorded), "\(handedOut.subtracting(recorded).count) certificates are unrecorded")
        // At most the one in flight at the kill may have committed without being handed out.
        #expect(recorded.count - handedOut.count <= 1)

        // Recovery: the long-running holder reconnects by itself; a new command issues again.
        var recovered = false
        for _ in 0..<60 where !recovered {
            recovered = (try? await server.vendors()) != nil
            if !recovered { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(recovered, "the registry is usable again once PostgreSQL is back")
        let after = try await eco.requests("after", prefix: "AFTER", count: 20)
        let again = try await eco.fleetkey([
            "issue", "--vendor", "Acme", "--csr-dir", after.path, "--out-dir", eco.root.path("after-out"),
        ])
        #expect(again.status == 0, "\(again.output)")
        #expect(
            try await TestPostgres.integer(
                "SELECT count(*) FROM certificates WHERE device_serial LIKE 'AFTER-%'", on: database) == 20)
        await server.shutdown()
    }
}
