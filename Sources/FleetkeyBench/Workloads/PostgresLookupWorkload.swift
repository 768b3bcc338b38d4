import FleetkeyCore
import FleetkeyPostgres
import FleetkeyTesting
import Foundation

/// Registry point lookups by device serial on PostgreSQL at a given fleet size, and the bulk load that builds it.
///
/// The fleet is loaded through the store's own bulk path (``SyntheticFleet``: manifest imports of 10,000 devices, in
/// multi-row statements). The lookups are `PostgresRegistry.device(_:)` through its pool (postgres-nio):
/// the query, its index walk, the wire and the mapping to a `DeviceRecord`. References, measured in the same
/// database: `pgbench` (libpq, prepared statements) running the primary-key point query, the floor of any PostgreSQL
/// lookup from one client and from eight; and a bulk insert into a bare table with no index for the load rate.
enum PostgresLookupWorkload {
    struct Result {
        var loadRate: Double
        var bareInsertRate: Double
        var p50: Double
        var p99: Double
        /// One client, back to back.
        var lookupRate: Double
        /// `concurrentClients` tasks sharing the registry's pool.
        var concurrentRate: Double
        var reference: BenchPostgres.PgbenchResult
        var concurrentReference: BenchPostgres.PgbenchResult
        var peakMiB: Double
    }

    static let concurrentClients = 8

    static func run(
        devices: Int, lookups: Int, postgres: BenchPostgres, scratch: URL, progress: @Sendable (String) -> Void
    ) async throws -> Result {
        let name = "bench_lookup_\(devices)"
        let location = try postgres.freshDatabase(name)
        defer { postgres.dropDatabase(name) }
        let directory = scratch.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let registry = try PostgresRegistry(
            location: location, password: nil, maximumConnections: concurrentClients + 2)
        registry.start()
        do {
            let result = try await measure(
                devices: devices, lookups: lookups, registry: registry, postgres: postgres, database: name,
                directory: directory, progress: progress)
            await registry.shutdown()
            return result
        } catch {
            await registry.shutdown()
            throw error
        }
    }

    private static func measure(
        devices: Int, lookups: Int, registry: PostgresRegistry, postgres: BenchPostgres, database: String,
        directory: URL,
        progress: @Sendable (String) -> Void
    ) async throws -> Result {
        try await registry.migrate()
        _ = try await ThrowawayEcosystem.make(vendors: ["Acme"], store: registry)

        let (_, loadSeconds) = try await Stopwatch.secondsAsync {
            try await BenchFleet.fleet.load(into: registry, count: devices, at: Date()) { loaded in
                if loaded % 1_000_000 == 0 { progress("    loaded \(loaded) devices") }
            }
        }
        try postgres.psql(database: database, ["VACUUM ANALYZE keys", "VACUUM ANALYZE devices"])
        let bareCount = min(devices, 1_000_000)
        let (_, bareSeconds) = try Stopwatch.seconds {
            try postgres.psql(
                database: database,
                [
                    "CREATE TABLE bare (id bigint, a text, b text)",
                    """
                    INSERT INTO bare SELECT i, 'DEV-' || i, md5(i::text) || md5('key' || i)
                    FROM generate_series(0, \(bareCount - 1)) AS i
                    """,
                ])
        }
        try postgres.psql(database: database, ["DROP TABLE bare"])

        PeakMemory.reset()
        let vendor = try VendorName("Acme")
        @Sendable func randomID() throws -> DeviceID {
            DeviceID(
                vendor: vendor, serial: try DeviceSerial(BenchFleet.fleet.serial(Int.random(in: 0..<devices))))
        }
        // Warm the pool and the server's cache, as a running server would be.
        for _ in 0..<min(1000, lookups) { _ = try await (registry as any RegistryStore).device(try randomID()) }
        var samples: [UInt64] = []
        samples.reserveCapacity(lookups)
        for _ in 0..<lookups {
            let id = try randomID()
            let start = DispatchTime.now().uptimeNanoseconds
            let found = try await (registry as any RegistryStore).device(id)
            samples.append(DispatchTime.now().uptimeNanoseconds - start)
            guard found != nil else { throw FleetkeyError(.notFound, "benchmark lookup missed \(id)") }
        }
        let perClient = lookups / concurrentClients
        let (_, concurrentSeconds) = try await Stopwatch.secondsAsync { () async throws -> Void in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<concurrentClients {
                    group.addTask {
                        for _ in 0..<perClient {
                            guard try await (registry as any RegistryStore).device(try randomID()) != nil else {
                                throw FleetkeyError(.notFound, "benchmark lookup missed")
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let peak = PeakMemory.peakMiB()

        let script = """
            \\set id random(1, \(devices))
            SELECT id FROM devices WHERE id = :id;
            """
        let seconds = max(2, min(5, lookups / 5_000))
        let reference = try postgres.pgbench(
            database: database, script: script, clients: 1, seconds: seconds, directory: directory)
        let concurrentReference = try postgres.pgbench(
            database: database, script: script, clients: concurrentClients, seconds: seconds, directory: directory)
        return Result(
            loadRate: Double(devices) / loadSeconds, bareInsertRate: Double(bareCount) / bareSeconds,
            p50: Stopwatch.percentile(samples, 50) / 1000, p99: Stopwatch.percentile(samples, 99) / 1000,
            lookupRate: RegistryLookupWorkload.rate(samples),
            concurrentRate: Double(perClient * concurrentClients) / concurrentSeconds, reference: reference,
            concurrentReference: concurrentReference, peakMiB: peak)
    }
}
