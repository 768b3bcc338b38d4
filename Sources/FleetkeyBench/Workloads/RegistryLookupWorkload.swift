import Crypto
import FleetkeyCore
import FleetkeySQLite
import FleetkeyTesting
import Foundation
import GRDB

/// Registry point lookups by device serial at a given fleet size, and the bulk load that builds the fleet.
///
/// The harness loads devices (and their keys) with direct SQL in large transactions, then times
/// `SQLiteRegistry.deviceSynchronously` — the query, its index walk and the mapping to a `DeviceRecord`.
/// References, measured in the same database: the rowid point query (the floor of any SQLite lookup) for
/// latency, and inserts into a bare table with no index for the load rate.
enum RegistryLookupWorkload {
    struct Result {
        var loadRate: Double
        var bareInsertRate: Double
        var loadPeakMiB: Double
        var p50: Double
        var p99: Double
        /// Lookups per second from one thread, back to back (the samples' count over their sum).
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
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }

        let registry = try SQLiteRegistry(path: path)
        _ = try await ThrowawayEcosystem.make(vendors: ["Acme"], store: registry)
        let queue = try DatabaseQueue(path: path)

        PeakMemory.reset()
        let batch = 100_000
        var loaded = 0
        let spki = Data(repeating: 0x04, count: 91)
        let (_, loadSeconds) = try Stopwatch.seconds {
            while loaded < devices {
                let upper = min(devices, loaded + batch)
                try queue.write { db in
                    let key = try db.makeStatement(
                        sql:
                            "INSERT INTO keys (fingerprint, spki, algorithm, custody, location, created_at) VALUES (?, ?, 'ecdsa-p256', 'secure-element', NULL, 0)"
                    )
                    let device = try db.makeStatement(
                        sql:
                            "INSERT INTO devices (vendor, serial, state, lot, key_fingerprint, created_at, updated_at) VALUES ('Acme', ?, 'provisioned', 'LOT', ?, 0, 0)"
                    )
                    for index in loaded..<upper {
                        let fingerprint = fingerprintText(index)
                        try key.execute(arguments: [fingerprint, spki])
                        try device.execute(arguments: [serial(index), fingerprint])
                    }
                }
                loaded = upper
                if loaded % 1_000_000 == 0 { progress("    loaded \(loaded) devices") }
            }
        }
        let loadPeak = PeakMemory.peakMiB()
        let bareCount = min(devices, 1_000_000)
        let (_, bareSeconds) = try Stopwatch.seconds {
            try queue.write { db in
                try db.execute(sql: "CREATE TEMP TABLE bare (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
                let insert = try db.makeStatement(sql: "INSERT INTO bare (a, b) VALUES (?, ?)")
                for index in 0..<bareCount { try insert.execute(arguments: [serial(index), fingerprintText(index)]) }
                try db.execute(sql: "DROP TABLE bare")
            }
        }

        PeakMemory.reset()
        var generator = SystemRandomNumberGenerator()
        let vendor = try VendorName("Acme")
        var samples: [UInt64] = []
        samples.reserveCapacity(lookups)
        for _ in 0..<min(1000, lookups) {  // warm the page cache the way a running server would be
            _ = try registry.deviceSynchronously(
                DeviceID(
                    vendor: vendor, serial: try DeviceSerial(serial(Int.random(in: 0..<devices, using: &generator)))))
        }
        for _ in 0..<lookups {
            let id = DeviceID(
                vendor: vendor, serial: try DeviceSerial(serial(Int.random(in: 0..<devices, using: &generator))))
            var found: DeviceRecord?
            samples.append(try Stopwatch.nanoseconds { found = try registry.deviceSynchronously(id) })
            guard found != nil else { throw FleetkeyError(.notFound, "benchmark lookup missed \(id)") }
        }
        let lookupPeak = PeakMemory.peakMiB()
        let rowid = try registry.rowidLookupSamples(count: lookups, maximum: Int64(devices))
        return Result(
            loadRate: Double(devices) / loadSeconds, bareInsertRate: Double(bareCount) / bareSeconds,
            loadPeakMiB: loadPeak,
            p50: Stopwatch.percentile(samples, 50) / 1000, p99: Stopwatch.percentile(samples, 99) / 1000,
            lookupRate: rate(samples), rowidP50: Stopwatch.percentile(rowid, 50) / 1000,
            rowidP99: Stopwatch.percentile(rowid, 99) / 1000, rowidRate: rate(rowid), lookupPeakMiB: lookupPeak)
    }

    /// Operations per second of back-to-back operations that took `samples` nanoseconds each.
    static func rate(_ samples: [UInt64]) -> Double {
        Double(samples.count) / (Double(samples.reduce(0, +)) / 1e9)
    }

    static func serial(_ index: Int) -> String { "DEV-\(index)" }

    static func fingerprintText(_ index: Int) -> String {
        var value = UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8]()
        for _ in 0..<4 {
            withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
            value = value &* 0xBF58_476D_1CE4_E5B9 &+ 1
        }
        return Hex.lower(bytes)
    }
}
