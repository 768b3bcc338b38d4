import FleetkeyCore
import Foundation

/// ``SupplyChainStore`` on any ``SQLRegistry``.
extension SQLRegistry {
    package func change(_ change: DeviceChange, events: [LifecycleEvent], issuer: IssuingAuthority?) async throws {
        try await transaction(
            (issuer.map { RegistrySQL.check($0, dialect) } ?? []) + RegistrySQL.apply(change)
                + RegistrySQL.append(events, dialect))
    }

    package func addOwner(_ owner: OwnerRecord, events: [LifecycleEvent]) async throws {
        try await transaction(
            [
                .run(
                    SQLStatement(
                        "INSERT INTO owners (name, created_at) VALUES (?, ?)",
                        [.text(owner.name), .date(owner.createdAt)],
                        onDuplicate: [
                            .ownerName: FleetkeyError(
                                .alreadyExists, "owner '\(owner.name)' already exists in this registry")
                        ]))
            ] + RegistrySQL.append(events, dialect))
    }

    package func owner(named name: String) async throws -> OwnerRecord? {
        try await fetch(
            SQLStatement("SELECT name, created_at FROM owners WHERE name = ?", [.text(name)]), RegistryRecords.owner
        ).first
    }

    package func owners() async throws -> [OwnerRecord] {
        try await fetch(SQLStatement("SELECT name, created_at FROM owners ORDER BY name"), RegistryRecords.owner)
    }

    package func devices(withKeys fingerprints: [String]) async throws -> [DeviceRecord] {
        try await fetch(
            chunking: fingerprints.map { .text($0) },
            {
                SQLStatement(
                    "SELECT \(RegistryRecords.deviceColumns) FROM devices WHERE key_fingerprint IN "
                        + "(\(RegistrySQL.placeholders($0)))")
            }, RegistryRecords.device)
    }

    package func devices(ids: [DeviceID]) async throws -> [DeviceRecord] {
        var found: [DeviceRecord] = []
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = ids[start..<min(ids.count, start + 500)]
            found += try await fetch(
                SQLStatement(
                    "SELECT \(RegistrySQL.qualified(RegistryRecords.deviceColumns, "d")) FROM devices d JOIN (VALUES "
                        + Array(repeating: "(?, ?)", count: chunk.count).joined(separator: ", ")
                        + ") AS t ON d.serial = t.column1 AND d.vendor = t.column2",
                    chunk.flatMap { [.text($0.serial.value), .text($0.vendor.value)] }),
                RegistryRecords.device)
        }
        return found
    }

    package func certificates(vendor: VendorName, lot: String) async throws -> [CertificateRecord] {
        try await fetch(
            SQLStatement(
                """
                SELECT \(RegistrySQL.qualified(RegistryRecords.certificateColumns, "c")) FROM certificates c
                JOIN devices d ON d.serial = c.device_serial AND d.vendor = c.device_vendor
                WHERE d.vendor = ? AND d.lot = ? ORDER BY c.id
                """, [.text(vendor.value), .text(lot)]),
            RegistryRecords.certificate)
    }

    package func lotSummaries(lot: String) async throws -> [LotSummary] {
        let counts = try await fetch(
            SQLStatement(
                """
                SELECT l.vendor, l.created_at, d.state, COUNT(d.serial) AS n FROM lots l
                LEFT JOIN devices d ON d.vendor = l.vendor AND d.lot = l.name
                WHERE l.name = ? GROUP BY l.vendor, l.created_at, d.state ORDER BY l.vendor
                """, [.text(lot)])
        ) { raw in
            let row = StoredRow(raw, table: "lots", key: ["vendor"])
            return (
                vendor: try row.parse("vendor", VendorName.init), createdAt: try row.date("created_at"),
                state: try row.optionalEnumeration(DeviceState.self, "state"), count: try row.int("n")
            )
        }
        let owners = try await fetch(
            SQLStatement(
                """
                SELECT DISTINCT vendor, owner FROM devices WHERE lot = ? AND owner IS NOT NULL ORDER BY vendor, owner
                """, [.text(lot)])
        ) { raw in
            let row = StoredRow(raw, table: "devices", key: ["vendor", "owner"])
            return (vendor: try row.parse("vendor", VendorName.init), owner: try row.text("owner"))
        }
        var summaries: [LotSummary] = []
        for count in counts {
            if summaries.last?.vendor != count.vendor {
                summaries.append(
                    LotSummary(
                        vendor: count.vendor, lot: lot, createdAt: count.createdAt, devicesByState: [:],
                        owners: owners.filter { $0.vendor == count.vendor }.map(\.owner)))
            }
            if let state = count.state { summaries[summaries.count - 1].devicesByState[state] = count.count }
        }
        return summaries
    }

    package func importedManifest(digest: String) async throws -> ImportedManifest? {
        try await fetch(
            SQLStatement(
                "SELECT digest, vendor, lot, owner, device_count, imported_at FROM manifests WHERE digest = ?",
                [.text(digest)]),
            RegistryRecords.manifest
        ).first
    }

    package func importManifest(_ unit: ManifestImportUnit) async throws -> Bool {
        let manifest = unit.manifest
        // First, so that a second import of the same manifest writes nothing, even when two race.
        let claim = SQLStatement(
            """
            INSERT INTO manifests (digest, vendor, lot, owner, device_count, imported_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (digest) DO NOTHING RETURNING 1
            """,
            [
                .text(manifest.digest), .text(manifest.vendor.value), .text(manifest.lot), .text(manifest.owner),
                .int(manifest.deviceCount), .date(manifest.importedAt),
            ])
        do {
            try await transaction(
                [.run(claim, expect: SQLExpectation(rows: 1, otherwise: NothingToWrite()))]
                    + unit.authorities.map { .run(RegistrySQL.insertIfMissing($0)) }
                    + [.run(RegistrySQL.insert(unit.vendor, ifMissing: true))] + RegistrySQL.insert(keys: unit.keys)
                    + RegistrySQL.insert(certificates: unit.certificates, ifMissing: true)
                    + RegistrySQL.apply(unit.devices) + RegistrySQL.append(unit.events, dialect))
            return true
        } catch is NothingToWrite {
            return false
        }
    }
}
