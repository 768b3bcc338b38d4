import FleetkeyCore
import FleetkeyCustody
import FleetkeyPostgres
import FleetkeySQLite
import FleetkeyTesting
import Foundation

/// Issuance end to end, in process: parse, proof of possession, policy, build, lint, sign, persist to the registry
/// (SQLite, PostgreSQL, or memory for diagnosis).
///
/// Each worker is a task issuing its own stream of requests one after another, so `workers` is the number of
/// issuances in flight; on PostgreSQL each has a pooled connection of its own.
///
/// Requests are made beforehand (the device's work, not the CA's) and streamed from disk, so the figure and
/// the peak memory are the CA's alone.
enum IssuanceWorkload {
    struct Result {
        var rate: Double
        var peakMiB: Double
        var issued: Int
    }

    /// Where issuance records: the SQLite registry (the product's default), an empty PostgreSQL database (the
    /// scale-out registry), or memory (the core alone, for diagnosis).
    enum Registry {
        case sqlite
        case postgres(PostgresLocation)
        case memory
    }

    static func run(count: Int, workers: Int, scratch: URL, registry kind: Registry = .sqlite) async throws -> Result {
        let directory = scratch.appendingPathComponent("issuance-\(count)-\(workers)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let registry: any RegistryStore
        var postgres: PostgresRegistry?
        switch kind {
        case .sqlite: registry = try SQLiteRegistry(path: directory.appendingPathComponent("registry.sqlite").path)
        case .memory: registry = try SQLiteRegistry.inMemory()
        case .postgres(let location):
            let store = try PostgresRegistry(location: location, password: nil, maximumConnections: workers + 2)
            store.start()
            postgres = store
            registry = store
        }
        do {
            let result = try await issue(count: count, workers: workers, directory: directory, registry: registry)
            await postgres?.shutdown()
            return result
        } catch {
            await postgres?.shutdown()
            throw error
        }
    }

    private static func issue(count: Int, workers: Int, directory: URL, registry: any RegistryStore) async throws
        -> Result
    {
        if let postgres = registry as? PostgresRegistry { try await postgres.migrate() }
        let (ecosystem, authority) = try await BenchEcosystem.make(
            registry: registry, keys: directory.appendingPathComponent("keys"))
        let vendor = BenchEcosystem.vendor

        let perWorker = count / workers
        var files: [RequestFile] = []
        for worker in 0..<workers {
            files.append(
                try RequestFile.generate(
                    at: directory.appendingPathComponent("requests-\(worker).bin"), vendor: vendor,
                    prefix: "W\(worker)",
                    count: perWorker))
        }

        PeakMemory.reset()
        let (issued, elapsed) = try await Stopwatch.secondsAsync { () async throws -> Int in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for file in files {
                    group.addTask {
                        var done = 0
                        try await file.eachRequest { csr in
                            _ = try await ecosystem.issueDeviceIdentity(.init(csr: csr, lot: "bench"), by: authority)
                            done += 1
                        }
                        return done
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        let peak = PeakMemory.peakMiB()
        let recorded = try await registry.certificateCount(issuer: vendor.authorityID) - 2
        guard recorded == issued, issued == perWorker * workers else {
            throw FleetkeyError(.storage, "benchmark issued \(issued) but the registry holds \(recorded)")
        }
        return Result(rate: Double(issued) / elapsed, peakMiB: peak, issued: issued)
    }
}
