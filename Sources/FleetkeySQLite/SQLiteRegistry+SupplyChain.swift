import FleetkeyCore
import Foundation
import GRDB

extension SQLiteRegistry: SupplyChainStore {
    public func change(_ change: DeviceChange, events: [LifecycleEvent]) async throws {
        try await writeRows { db in
            try Self.apply(change, db)
            for event in events { try Self.append(event, db) }
        }
    }

    public func addOwner(_ owner: OwnerRecord, events: [LifecycleEvent]) async throws {
        try await writeRows { db in
            do {
                try db.execute(
                    sql: "INSERT INTO owners (name, created_at) VALUES (?, ?)",
                    arguments: [owner.name, owner.createdAt.timeIntervalSince1970])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw FleetkeyError(.alreadyExists, "owner '\(owner.name)' already exists in this registry")
            }
            for event in events { try Self.append(event, db) }
        }
    }

    public func owner(named name: String) async throws -> OwnerRecord? {
        try await readRows { db in
            try Row.fetchOne(db, sql: "SELECT * FROM owners WHERE name = ?", arguments: [name]).map(Self.owner)
        }
    }

    public func owners() async throws -> [OwnerRecord] {
        try await readRows { db in try Row.fetchAll(db, sql: "SELECT * FROM owners ORDER BY name").map(Self.owner) }
    }

    public func devices(withKeys fingerprints: [String]) async throws -> [DeviceRecord] {
        try await readRows { db in
            try Self.chunked(fingerprints) { chunk in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM devices WHERE key_fingerprint IN (\(Self.placeholders(chunk.count)))",
                    arguments: StatementArguments(chunk)
                ).map(Self.device)
            }
        }
    }

    public func devices(ids: [DeviceID]) async throws -> [DeviceRecord] {
        try await readRows { db in
            let statement = try db.cachedStatement(sql: "SELECT * FROM devices WHERE serial = ? AND vendor = ?")
            return try ids.compactMap { id in
                try Row.fetchOne(statement, arguments: [id.serial.value, id.vendor.value]).map(Self.device)
            }
        }
    }

    public func lotSummaries(lot: String) async throws -> [LotSummary] {
        try await readRows { db in
            let lots = try Row.fetchAll(
                db, sql: "SELECT vendor, created_at FROM lots WHERE name = ? ORDER BY vendor", arguments: [lot])
            return try lots.map { row in
                let vendor: String = row["vendor"]
                var byState: [DeviceState: Int] = [:]
                for count in try Row.fetchAll(
                    db, sql: "SELECT state, COUNT(*) AS n FROM devices WHERE vendor = ? AND lot = ? GROUP BY state",
                    arguments: [vendor, lot])
                {
                    byState[DeviceState(rawValue: count["state"]) ?? .generated, default: 0] += count["n"] as Int
                }
                let owners = try String.fetchAll(
                    db,
                    sql:
                        "SELECT DISTINCT owner FROM devices WHERE vendor = ? AND lot = ? AND owner IS NOT NULL ORDER BY owner",
                    arguments: [vendor, lot])
                return LotSummary(
                    vendor: try VendorName(vendor), lot: lot, createdAt: Self.date(row, "created_at"),
                    devicesByState: byState, owners: owners)
            }
        }
    }

    public func importedManifest(digest: String) async throws -> ImportedManifest? {
        try await readRows { db in
            try Row.fetchOne(db, sql: "SELECT * FROM manifests WHERE digest = ?", arguments: [digest]).map(
                Self.manifest)
        }
    }

    public func importManifest(_ unit: ManifestImportUnit) async throws -> Bool {
        try await writeRows { db in
            let manifest = unit.manifest
            if try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM manifests WHERE digest = ?)", arguments: [manifest.digest])
                == true
            {
                return false
            }
            for authority in unit.authorities
            where try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM authorities WHERE id = ?)", arguments: [authority.id]) != true
            {
                try Self.insert(authority, db)
            }
            try db.execute(
                sql:
                    "INSERT INTO vendors (name, authority_id, state, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [
                    unit.vendor.name.value, unit.vendor.authorityID, unit.vendor.state.rawValue,
                    unit.vendor.createdAt.timeIntervalSince1970,
                ])
            for key in unit.keys { try Self.insert(key, db) }
            let known = try db.cachedStatement(
                sql: "SELECT EXISTS (SELECT 1 FROM certificates WHERE issuer = ? AND serial = ?)")
            for certificate in unit.certificates
            where try Bool.fetchOne(known, arguments: [certificate.issuer, certificate.serial]) != true {
                try Self.insert(certificate, db)
            }
            for device in unit.devices { try Self.apply(device, db) }
            try db.execute(
                sql: """
                    INSERT INTO manifests (digest, vendor, lot, owner, device_count, imported_at) VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    manifest.digest, manifest.vendor.value, manifest.lot, manifest.owner, manifest.deviceCount,
                    manifest.importedAt.timeIntervalSince1970,
                ])
            for event in unit.events { try Self.append(event, db) }
            return true
        }
    }

    // MARK: Rows

    private static func owner(_ row: Row) -> OwnerRecord {
        OwnerRecord(name: row["name"], createdAt: date(row, "created_at"))
    }

    private static func manifest(_ row: Row) throws -> ImportedManifest {
        ImportedManifest(
            digest: row["digest"], vendor: try VendorName(row["vendor"]), lot: row["lot"], owner: row["owner"],
            deviceCount: row["device_count"], importedAt: date(row, "imported_at"))
    }

    private static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    /// Runs `body` over slices of at most 500 values (SQLite binds at most 32,766 parameters per statement).
    private static func chunked<T>(_ values: [String], _ body: ([String]) throws -> [T]) rethrows -> [T] {
        var result: [T] = []
        var start = 0
        while start < values.count {
            let end = min(values.count, start + 500)
            result += try body(Array(values[start..<end]))
            start = end
        }
        return result
    }
}
