import FleetkeyCore
import Foundation
import PostgresNIO

extension PostgresRegistry: SupplyChainStore {
    public func change(_ change: DeviceChange, events: [LifecycleEvent]) async throws {
        let logger = self.logger
        try await write { connection in
            try await Self.apply(change, connection, logger)
            try await Self.append(events, connection, logger)
        }
    }

    public func addOwner(_ owner: OwnerRecord, events: [LifecycleEvent]) async throws {
        let logger = self.logger
        try await write { connection in
            do {
                try await connection.query(
                    "INSERT INTO owners (name, created_at) VALUES (\(owner.name), \(owner.createdAt))", logger: logger)
            } catch  where PostgresFailure.isUniqueViolation(error, constraint: "owners_pkey") {
                throw FleetkeyError(.alreadyExists, "owner '\(owner.name)' already exists in this registry")
            }
            try await Self.append(events, connection, logger)
        }
    }

    public func owner(named name: String) async throws -> OwnerRecord? {
        let logger = self.logger
        return try await read { connection in
            try await connection.query("SELECT name, created_at FROM owners WHERE name = \(name)", logger: logger)
                .collect().first.map(Self.owner)
        }
    }

    public func owners() async throws -> [OwnerRecord] {
        let logger = self.logger
        return try await read { connection in
            try await connection.query("SELECT name, created_at FROM owners ORDER BY name", logger: logger)
                .collect().map(Self.owner)
        }
    }

    public func devices(withKeys fingerprints: [String]) async throws -> [DeviceRecord] {
        guard !fingerprints.isEmpty else { return [] }
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE key_fingerprint = ANY(\(fingerprints))
                """, logger: logger
            ).collect().map(Self.device)
        }
    }

    public func devices(ids: [DeviceID]) async throws -> [DeviceRecord] {
        guard !ids.isEmpty else { return [] }
        let serials = ids.map(\.serial.value)
        let vendors = ids.map(\.vendor.value)
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT \(unescaped: Self.deviceColumns) FROM devices
                WHERE (serial, vendor) IN (SELECT * FROM unnest(\(serials)::text[], \(vendors)::text[]))
                """, logger: logger
            ).collect().map(Self.device)
        }
    }

    public func lotSummaries(lot: String) async throws -> [LotSummary] {
        let logger = self.logger
        return try await read { connection in
            var summaries: [LotSummary] = []
            let lots = try await connection.query(
                "SELECT vendor, created_at FROM lots WHERE name = \(lot) ORDER BY vendor", logger: logger
            ).collect()
            for row in lots {
                let (vendor, createdAt) = try row.decode((String, Date).self)
                var byState: [DeviceState: Int] = [:]
                for count in try await connection.query(
                    """
                    SELECT state, count(*)::bigint FROM devices WHERE vendor = \(vendor) AND lot = \(lot) GROUP BY state
                    """, logger: logger
                ).collect() {
                    let (state, n) = try count.decode((String, Int64).self)
                    byState[DeviceState(rawValue: state) ?? .generated, default: 0] += Int(n)
                }
                let owners = try await connection.query(
                    """
                    SELECT DISTINCT owner FROM devices
                    WHERE vendor = \(vendor) AND lot = \(lot) AND owner IS NOT NULL ORDER BY owner
                    """, logger: logger
                ).collect().map { try $0.decode(String.self) }
                summaries.append(
                    LotSummary(
                        vendor: try VendorName(vendor), lot: lot, createdAt: createdAt, devicesByState: byState,
                        owners: owners))
            }
            return summaries
        }
    }

    public func importedManifest(digest: String) async throws -> ImportedManifest? {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT digest, vendor, lot, owner, device_count, imported_at FROM manifests WHERE digest = \(digest)
                """, logger: logger
            ).collect().first.map(Self.manifest)
        }
    }

    public func importManifest(_ unit: ManifestImportUnit) async throws -> Bool {
        let logger = self.logger
        return try await write { connection in
            let manifest = unit.manifest
            // Two importers of one manifest serialise here: the second finds the first's row, or waits for it.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtextextended(\(manifest.digest), 0))", logger: logger)
            guard
                try await connection.query(
                    "SELECT 1 FROM manifests WHERE digest = \(manifest.digest)", logger: logger
                ).collect().isEmpty
            else { return false }
            for authority in unit.authorities
            where try await connection.query(
                "SELECT 1 FROM authorities WHERE id = \(authority.id)", logger: logger
            ).collect().isEmpty {
                try await Self.insert(authority, connection, logger)
            }
            try await connection.query(
                """
                INSERT INTO vendors (name, authority_id, state, created_at)
                VALUES (\(unit.vendor.name.value), \(unit.vendor.authorityID), \(unit.vendor.state.rawValue),
                    \(unit.vendor.createdAt))
                ON CONFLICT DO NOTHING
                """, logger: logger)
            for key in unit.keys { try await Self.insert(key, connection, logger) }
            for certificate in unit.certificates
            where try await connection.query(
                "SELECT 1 FROM certificates WHERE issuer = \(certificate.issuer) AND serial = \(certificate.serial)",
                logger: logger
            ).collect().isEmpty {
                try await Self.insert(certificate, connection, logger)
            }
            for device in unit.devices { try await Self.apply(device, connection, logger) }
            try await connection.query(
                """
                INSERT INTO manifests (digest, vendor, lot, owner, device_count, imported_at)
                VALUES (\(manifest.digest), \(manifest.vendor.value), \(manifest.lot), \(manifest.owner),
                    \(manifest.deviceCount), \(manifest.importedAt))
                """, logger: logger)
            try await Self.append(unit.events, connection, logger)
            return true
        }
    }

    // MARK: Rows

    private static func owner(_ row: PostgresRow) throws -> OwnerRecord {
        let (name, createdAt) = try row.decode((String, Date).self)
        return OwnerRecord(name: name, createdAt: createdAt)
    }

    private static func manifest(_ row: PostgresRow) throws -> ImportedManifest {
        let (digest, vendor, lot, owner, count, importedAt) = try row.decode(
            (String, String, String, String, Int32, Date).self)
        return ImportedManifest(
            digest: digest, vendor: try VendorName(vendor), lot: lot, owner: owner, deviceCount: Int(count),
            importedAt: importedAt)
    }
}
