import Crypto
import FleetkeyCore
import FleetkeySQLite
import FleetkeyTesting
import Foundation
import GRDB

/// Registry point lookups by device serial at a given fleet size, and the bulk load that builds the fleet.
///
/// The fleet is loaded through the store's own bulk path (``SyntheticFleet``), then `SQLiteRegistry.device(_:)` is timed:
/// the query, its index walk and the mapping to a `DeviceRecord`, through the same async path every caller uses.
/// References, measured in the same run: the rowid point query on the same file from a connection of the
/// benchmark's own (the floor of any SQLite lookup) for latency, and inserts into a bare table with no index, in a
/// scratch file of its own, for the load rate.
enum RegistryLookupWorkload {
    struct Result {
        var loadRate: Double
        var bareInsertRate: Double
        var loadPeakMiB: Double
        var p50: Double
        var p99: Double
        /// Lookups per second from one task, back to back (the samples' count over their sum).
        var lookupRate: Double
        var rowidP50: Double
        var rowidP99: Double
        var rowidRate: Double
        var lookupPeakMiB: Double
    }

    static func run(devices: Int, lookups: Int, scratch: URL, progress: @Sendable (String) -> Void) async throws
        -> Result
    {
        let path = scratch.appendingPathComponent("lookup-\(devices).sqlite").path
        let barePath = scratch.appendingPathComponent("bare-\(devices).sqlite").path
        let files = [path, barePath].flatMap { base in ["", "-wal", "-shm"].map { base + $0 } }
        for file in files { try? FileManager.default.removeItem(atPath: file) }
        defer { for file in files { try? FileManager.default.removeItem(atPath: file) } }

        let registry = try SQLiteRegistry(path: path)
        _ = try await ThrowawayEcosystem.make(vendors: ["Acme"], store: registry)

        PeakMemory.reset()
        let (_, loadSeconds) = try await Stopwatch.secondsAsync {
            try await BenchFleet.fleet.load(into: registry, count: devices, at: Date()) { loaded in
                if loaded % 1_000_000 == 0 { progress("    loaded \(loaded) devices") }
            }
        }
        let loadPeak = PeakMemory.peakMiB()
        let bareCount = min(devices, 1_000_000)
        let bare = try DatabaseQueue(path: barePath)
        let (_, bareSeconds) = try Stopwatch.seconds {
            try bare.write { db in
                try db.execute(sql: "CREATE TABLE bare (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
                let insert = try db.makeStatement(sql: "INSERT INTO bare (a, b) VALUES (?, ?)")
                for index in 0..<bareCount {
                    try insert.execute(arguments: [BenchFleet.fleet.serial(index), BenchFleet.fleet.fingerprint(index)])
                }
            }
        }

        PeakMemory.reset()
        let store: any RegistryStore = registry
        let vendor = try VendorName("Acme")
        func randomID() throws -> DeviceID {
            DeviceID(vendor: vendor, serial: try DeviceSerial(BenchFleet.fleet.serial(Int.random(in: 0..<devices))))
        }
        for _ in 0..<min(1000, lookups) { _ = try await store.device(try randomID()) }  // warm the page cache
        var samples: [UInt64] = []
        samples.reserveCapacity(lookups)
        for _ in 0..<lookups {
            let id = try randomID()
            let start = DispatchTime.now().uptimeNanoseconds
            let found = try await store.device(id)
            samples.append(DispatchTime.now().uptimeNanoseconds - start)
            guard found != nil else { throw FleetkeyError(.notFound, "benchmark lookup missed \(id)") }
        }
        let lookupPeak = PeakMemory.peakMiB()
        let rowid = try rowidSamples(path: path, count: lookups)
        return Result(
            loadRate: Double(devices) / loadSeconds, bareInsertRate: Double(bareCount) / bareSeconds,
            loadPeakMiB: loadPeak,
            p50: Stopwatch.percentile(samples, 50) / 1000, p99: Stopwatch.percentile(samples, 99) / 1000,
            lookupRate: rate(samples), rowidP50: Stopwatch.percentile(rowid, 50) / 1000,
            rowidP99: Stopwatch.percentile(rowid, 99) / 1000, rowidRate: rate(rowid), lookupPeakMiB: lookupPeak)
    }

    /// Latencies (ns) of the rowid point query on the devices table, from a connection of the benchmark's own: the
    /// floor any lookup in this database can reach. Synchronous, so no task hop is counted.
    static func rowidSamples(path: String, count: Int) throws -> [UInt64] {
        let floor = try DatabaseQueue(path: path)
        let maximum = try floor.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM devices") } ?? 1
        var samples: [UInt64] = []
        samples.reserveCapacity(count)
        for _ in 0..<count {
            let id = Int64.random(in: 1...max(1, maximum))
            samples.append(
                try Stopwatch.nanoseconds {
                    _ = try floor.read { db in
                        try Int64.fetchOne(
                            db.cachedStatement(sql: "SELECT id FROM devices WHERE id = ?"), arguments: [id])
                    }
                })
        }
        return samples
    }

    /// Operations per second of back-to-back operations that took `samples` nanoseconds each.
    static func rate(_ samples: [UInt64]) -> Double {
        Double(samples.count) / (Double(samples.reduce(0, +)) / 1e9)
    }
}
