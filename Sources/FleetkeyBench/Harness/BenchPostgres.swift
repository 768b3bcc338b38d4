import FleetkeyCore
import FleetkeyPostgres
import Foundation

/// The throwaway PostgreSQL 15 server of one benchmark run, and the PostgreSQL tools that seed and measure it.
///
/// scripts/bench starts the server (`scripts/postgres start DIR`), stops it when the run ends, however it ends,
/// and passes its URL in `FLEETKEY_BENCH_POSTGRES_URL`; when it could not start one, it passes the reason in
/// `FLEETKEY_BENCH_POSTGRES_UNAVAILABLE` instead, and the PostgreSQL rows are reported as skipped with that reason.
/// Each workload gets a database of its own, created empty and dropped afterwards.
struct BenchPostgres: Sendable {
    /// The server, at its maintenance database (`postgres`).
    let server: PostgresLocation
    let binaries: String

    enum Availability {
        case available(BenchPostgres)
        case unavailable(String)
    }

    static func fromEnvironment() -> Availability {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["FLEETKEY_BENCH_POSTGRES_URL"], !url.isEmpty else {
            return .unavailable(
                environment["FLEETKEY_BENCH_POSTGRES_UNAVAILABLE"]
                    ?? "no server: run through scripts/bench, or set FLEETKEY_BENCH_POSTGRES_URL")
        }
        do {
            var server = try PostgresLocation(url: url)
            server.tls = .disable
            let binaries = environment["FLEETKEY_POSTGRES_BIN"] ?? "/usr/lib/postgresql/15/bin"
            return .available(BenchPostgres(server: server, binaries: binaries))
        } catch {
            return .unavailable("FLEETKEY_BENCH_POSTGRES_URL is not usable: \(error)")
        }
    }

    /// Drops `name` if it exists and creates it empty; returns its location.
    func freshDatabase(_ name: String) throws -> PostgresLocation {
        try psql(database: server.database, ["DROP DATABASE IF EXISTS \(name)", "CREATE DATABASE \(name)"])
        var location = server
        location.database = name
        return location
    }

    func dropDatabase(_ name: String) {
        _ = try? psql(database: server.database, ["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
    }

    /// Runs each statement in its own transaction (`CREATE DATABASE` cannot run in one), stopping at the first error.
    @discardableResult
    func psql(database: String, _ statements: [String]) throws -> String {
        var arguments = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"] + connectionArguments + ["-d", database]
        for statement in statements { arguments += ["-c", statement] }
        let outcome = try Subprocess.run("\(binaries)/psql", arguments)
        guard outcome.status == 0 else {
            throw FleetkeyError(.storage, "psql failed on \(database): \(outcome.output)")
        }
        return outcome.output
    }

    struct PgbenchResult {
        var transactionsPerSecond: Double
        var p50Microseconds: Double
        var p99Microseconds: Double
    }

    /// `pgbench` (libpq, prepared statements) running `script` from `clients` connections for `seconds`.
    func pgbench(database: String, script: String, clients: Int, seconds: Int, directory: URL) throws -> PgbenchResult {
        let scriptFile = directory.appendingPathComponent("pgbench-\(clients).sql")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        let logPrefix = directory.appendingPathComponent("pgbench-\(clients)-log").path
        let outcome = try Subprocess.run(
            "\(binaries)/pgbench",
            [
                "-n", "-M", "prepared", "-c", "\(clients)", "-j", "\(min(clients, 2))", "-T", "\(seconds)", "-f",
                scriptFile.path,
                "-l", "--log-prefix=\(logPrefix)",
            ] + connectionArguments + [database])
        guard outcome.status == 0 else { throw FleetkeyError(.storage, "pgbench failed: \(outcome.output)") }
        var tps: Double?
        for line in outcome.output.split(separator: "\n") where line.hasPrefix("tps = ") {
            tps = line.split(separator: " ").dropFirst(2).first.flatMap { Double($0) }
        }
        // Per-transaction log lines: client_id transaction_no latency_us script_no epoch epoch_us.
        var samples: [UInt64] = []
        let logs = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            $0.hasPrefix("pgbench-\(clients)-log")
        }
        for log in logs {
            let text = try String(contentsOfFile: directory.appendingPathComponent(log).path, encoding: .utf8)
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count > 2, let latency = UInt64(fields[2]) { samples.append(latency) }
            }
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(log))
        }
        guard let tps, !samples.isEmpty else {
            throw FleetkeyError(.storage, "could not read pgbench's output:\n\(outcome.output)")
        }
        return PgbenchResult(
            transactionsPerSecond: tps, p50Microseconds: Stopwatch.percentile(samples, 50),
            p99Microseconds: Stopwatch.percentile(samples, 99))
    }

    private var connectionArguments: [String] {
        ["-h", server.host, "-p", "\(server.port)", "-U", server.user]
    }
}
