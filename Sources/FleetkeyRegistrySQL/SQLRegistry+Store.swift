import FleetkeyCore
import Foundation

/// ``RegistryStore`` on any ``SQLRegistry``.
extension SQLRegistry {
    // MARK: Writes

    package func createRoot(
        _ root: AuthorityRecord, certificate: CertificateRecord, key: KeyRecord, events: [LifecycleEvent]
    ) async throws {
        try await transaction(
            [.run(RegistrySQL.insert(root))] + RegistrySQL.insert(keys: [key])
                + RegistrySQL.insert(certificates: [certificate]) + RegistrySQL.append(events, dialect))
    }

    package func addVendor(
        _ vendor: VendorRecord, authority: AuthorityRecord, certificates: [CertificateRecord], keys: [KeyRecord],
        events: [LifecycleEvent]
    ) async throws {
        try await transaction(
            [.run(RegistrySQL.insert(authority)), .run(RegistrySQL.insert(vendor))] + RegistrySQL.insert(keys: keys)
                + certificates.flatMap { RegistrySQL.insert(certificates: [$0]) } + RegistrySQL.append(events, dialect))
    }

    package func record(_ issuance: IssuanceUnit) async throws {
        try await transaction(RegistrySQL.record(issuance, dialect))
    }

    // MARK: Reads

    package func authority(id: String) async throws -> AuthorityRecord? {
        try await fetch(
            SQLStatement("SELECT \(RegistryRecords.authorityColumns) FROM authorities WHERE id = ?", [.text(id)]),
            RegistryRecords.authority
        ).first
    }

    package func vendor(named name: VendorName) async throws -> VendorRecord? {
        try await fetch(
            SQLStatement("SELECT \(RegistryRecords.vendorColumns) FROM vendors WHERE name = ?", [.text(name.value)]),
            RegistryRecords.vendor
        ).first
    }

    package func vendors() async throws -> [VendorRecord] {
        try await fetch(
            SQLStatement("SELECT \(RegistryRecords.vendorColumns) FROM vendors ORDER BY name"), RegistryRecords.vendor)
    }

    package func certificate(issuer: String, serial: String) async throws -> CertificateRecord? {
        try await fetch(
            SQLStatement(
                "SELECT \(RegistryRecords.certificateColumns) FROM certificates WHERE issuer = ? AND serial = ?",
                [.text(issuer), .text(serial.uppercased())]),
            RegistryRecords.certificate
        ).first
    }

    package func certificates(serial: String) async throws -> [CertificateRecord] {
        try await fetch(
            SQLStatement(
                "SELECT \(RegistryRecords.certificateColumns) FROM certificates WHERE serial = ? ORDER BY id",
                [.text(serial.uppercased())]),
            RegistryRecords.certificate)
    }

    package func certificates(forDevice device: DeviceID) async throws -> [CertificateRecord] {
        try await fetch(
            SQLStatement(
                """
                SELECT \(RegistryRecords.certificateColumns) FROM certificates
                WHERE device_serial = ? AND device_vendor = ? ORDER BY id
                """, [.text(device.serial.value), .text(device.vendor.value)]),
            RegistryRecords.certificate)
    }

    package func certificateCount(issuer: String?) async throws -> Int {
        let statement =
            issuer.map { SQLStatement("SELECT COUNT(*) AS n FROM certificates WHERE issuer = ?", [.text($0)]) }
            ?? SQLStatement("SELECT COUNT(*) AS n FROM certificates")
        return try await fetch(statement) { try StoredRow($0, table: "certificates", key: []).int("n") }.first ?? 0
    }

    package func device(_ id: DeviceID) async throws -> DeviceRecord? {
        try await fetch(
            SQLStatement(
                "SELECT \(RegistryRecords.deviceColumns) FROM devices WHERE serial = ? AND vendor = ?",
                [.text(id.serial.value), .text(id.vendor.value)]),
            RegistryRecords.device
        ).first
    }

    package func devices(serial: DeviceSerial) async throws -> [DeviceRecord] {
        try await fetch(
            SQLStatement(
                "SELECT \(RegistryRecords.deviceColumns) FROM devices WHERE serial = ? ORDER BY vendor",
                [.text(serial.value)]),
            RegistryRecords.device)
    }

    package func devices(matching filter: DeviceFilter) async throws -> [DeviceRecord] {
        var clauses: [String] = []
        var values: [SQLValue] = []
        if let vendor = filter.vendor {
            clauses.append("vendor = ?")
            values.append(.text(vendor.value))
        }
        if let state = filter.state {
            clauses.append("state = ?")
            values.append(.text(state.rawValue))
        }
        if let lot = filter.lot {
            clauses.append("lot = ?")
            values.append(.text(lot))
        }
        var sql = "SELECT \(RegistryRecords.deviceColumns) FROM devices"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY vendor, serial"
        if let limit = filter.limit {
            sql += " LIMIT ?"
            values.append(.int(max(0, limit)))
        }
        return try await fetch(SQLStatement(sql, values), RegistryRecords.device)
    }

    package func events(subject: EventSubject?, limit: Int?) async throws -> [LifecycleEvent] {
        var sql = "SELECT \(RegistryRecords.eventColumns) FROM events"
        var values: [SQLValue] = []
        if let subject {
            sql += " WHERE subject = ?"
            values.append(.text(subject.description))
        }
        sql += " ORDER BY sequence"
        if let limit {
            sql += " LIMIT ?"
            values.append(.int(max(0, limit)))
        }
        return try await fetch(SQLStatement(sql, values), RegistryRecords.event)
    }
}
