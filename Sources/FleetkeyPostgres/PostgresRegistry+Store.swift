import FleetkeyCore
import Foundation
import Logging
import PostgresNIO
import SwiftASN1

/// The `RegistryStore` operations, each one transaction for writes, with the same error contract as the SQLite
/// registry: `.alreadyExists` for a second root or vendor, ``DuplicateSerialError`` for a serial the issuer already
/// used, `.conflict` for a device that is not in the state the writer read or that another process registered first.
extension PostgresRegistry {
    // MARK: Writes

    public func createRoot(
        _ root: AuthorityRecord, certificate: CertificateRecord, key: KeyRecord, events: [LifecycleEvent]
    ) async throws {
        let logger = self.logger
        try await write { connection in
            let exists =
                try await connection.query(
                    "SELECT EXISTS (SELECT 1 FROM authorities WHERE kind = 'root')", logger: logger
                ).collect().first?.decode(Bool.self) ?? false
            if exists {
                throw FleetkeyError(.alreadyExists, "this registry already has a root CA")
            }
            try await Self.insert(root, connection, logger)
            try await Self.insert(key, connection, logger)
            try await Self.insert(certificate, connection, logger)
            try await Self.append(events, connection, logger)
        }
    }

    public func addVendor(
        _ vendor: VendorRecord,
        authority: AuthorityRecord,
        certificates: [CertificateRecord],
        keys: [KeyRecord],
        events: [LifecycleEvent]
    ) async throws {
        let logger = self.logger
        try await write { connection in
            try await Self.insert(authority, connection, logger)
            do {
                try await connection.query(
                    """
                    INSERT INTO vendors (name, authority_id, state, created_at)
                    VALUES (\(vendor.name.value), \(vendor.authorityID), \(vendor.state.rawValue), \(vendor.createdAt))
                    """, logger: logger)
            } catch  where PostgresFailure.isUniqueViolation(error, constraint: "vendors_pkey") {
                throw FleetkeyError(.alreadyExists, "vendor '\(vendor.name)' already exists")
            }
            for key in keys { try await Self.insert(key, connection, logger) }
            for certificate in certificates { try await Self.insert(certificate, connection, logger) }
            try await Self.append(events, connection, logger)
        }
    }

    public func record(_ issuance: IssuanceUnit) async throws {
        let logger = self.logger
        try await write { connection in
            try await Self.insert(issuance.key, connection, logger)
            if let change = issuance.device {
                try await Self.apply(change, connection, logger)
            }
            try await Self.insert(issuance.certificate, connection, logger)
            try await Self.append(issuance.events, connection, logger)
        }
    }

    // MARK: Reads

    public func authority(id: String) async throws -> AuthorityRecord? {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT id, kind, vendor, certificate, key_reference, algorithm, created_at
                FROM authorities WHERE id = \(id)
                """, logger: logger
            ).collect().first.map(Self.authority)
        }
    }

    public func vendor(named name: VendorName) async throws -> VendorRecord? {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                "SELECT name, authority_id, state, created_at FROM vendors WHERE name = \(name.value)", logger: logger
            ).collect().first.map(Self.vendor)
        }
    }

    public func vendors() async throws -> [VendorRecord] {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                "SELECT name, authority_id, state, created_at FROM vendors ORDER BY name", logger: logger
            ).collect().map(Self.vendor)
        }
    }

    public func certificate(issuer: String, serial: String) async throws -> CertificateRecord? {
        let logger = self.logger
        let serial = serial.uppercased()
        return try await read { connection in
            try await connection.query(
                """
                SELECT \(unescaped: Self.certificateColumns) FROM certificates
                WHERE issuer = \(issuer) AND serial = \(serial)
                """,
                logger: logger
            ).collect().first.map(Self.certificate)
        }
    }

    public func certificates(serial: String) async throws -> [CertificateRecord] {
        let logger = self.logger
        let serial = serial.uppercased()
        return try await read { connection in
            try await connection.query(
                "SELECT \(unescaped: Self.certificateColumns) FROM certificates WHERE serial = \(serial) ORDER BY id",
                logger: logger
            ).collect().map(Self.certificate)
        }
    }

    public func certificates(forDevice device: DeviceID) async throws -> [CertificateRecord] {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT \(unescaped: Self.certificateColumns) FROM certificates
                WHERE device_serial = \(device.serial.value) AND device_vendor = \(device.vendor.value) ORDER BY id
                """, logger: logger
            ).collect().map(Self.certificate)
        }
    }

    public func certificateCount(issuer: String?) async throws -> Int {
        let logger = self.logger
        return try await read { connection in
            let rows: [PostgresRow]
            if let issuer {
                rows = try await connection.query(
                    "SELECT count(*) FROM certificates WHERE issuer = \(issuer)", logger: logger
                ).collect()
            } else {
                rows = try await connection.query("SELECT count(*) FROM certificates", logger: logger).collect()
            }
            return Int(try rows.first?.decode(Int64.self) ?? 0)
        }
    }

    public func device(_ id: DeviceID) async throws -> DeviceRecord? {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT \(unescaped: Self.deviceColumns) FROM devices
                WHERE serial = \(id.serial.value) AND vendor = \(id.vendor.value)
                """, logger: logger
            ).collect().first.map(Self.device)
        }
    }

    public func devices(serial: DeviceSerial) async throws -> [DeviceRecord] {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                "SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE serial = \(serial.value) ORDER BY vendor",
                logger: logger
            ).collect().map(Self.device)
        }
    }

    public func devices(matching filter: DeviceFilter) async throws -> [DeviceRecord] {
        var clauses: [String] = []
        var binds = PostgresBindings()
        if let vendor = filter.vendor {
            binds.append(vendor.value)
            clauses.append("vendor = $\(binds.count)")
        }
        if let state = filter.state {
            binds.append(state.rawValue)
            clauses.append("state = $\(binds.count)")
        }
        if let lot = filter.lot {
            binds.append(lot)
            clauses.append("lot = $\(binds.count)")
        }
        var sql = "SELECT \(Self.deviceColumns) FROM devices"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY vendor, serial"
        if let limit = filter.limit {
            binds.append(max(0, limit))
            sql += " LIMIT $\(binds.count)"
        }
        let query = PostgresQuery(unsafeSQL: sql, binds: binds)
        let logger = self.logger
        return try await read { connection in
            try await connection.query(query, logger: logger).collect().map(Self.device)
        }
    }

    public func events(subject: String?, limit: Int?) async throws -> [LifecycleEvent] {
        var binds = PostgresBindings()
        var sql = "SELECT sequence, at, actor, action, subject, from_state, to_state, detail::text FROM events"
        if let subject {
            binds.append(subject)
            sql += " WHERE subject = $\(binds.count)"
        }
        sql += " ORDER BY sequence"
        if let limit {
            binds.append(max(0, limit))
            sql += " LIMIT $\(binds.count)"
        }
        let query = PostgresQuery(unsafeSQL: sql, binds: binds)
        let logger = self.logger
        return try await read { connection in
            try await connection.query(query, logger: logger).collect().map(Self.event)
        }
    }

    // MARK: Statements

    static func insert(_ record: AuthorityRecord, _ connection: PostgresConnection, _ logger: Logger)
        async throws
    {
        do {
            try await connection.query(
                """
                INSERT INTO authorities (id, kind, vendor, certificate, key_reference, algorithm, created_at)
                VALUES (\(record.id), \(record.kind.rawValue), \(record.vendor?.value), \(Data(record.certificateDER)),
                    \(record.keyReference), \(record.algorithm.description), \(record.createdAt))
                """, logger: logger)
        } catch  where PostgresFailure.isUniqueViolation(error, constraint: "authorities_pkey") {
            throw FleetkeyError(.alreadyExists, "certificate authority '\(record.id)' already exists")
        }
    }

    static func insert(_ key: KeyRecord, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO keys (fingerprint, spki, algorithm, custody, location, created_at)
            VALUES (\(key.fingerprint), \(Data(key.subjectPublicKeyInfo)), \(key.algorithm.description),
                \(key.custody.rawValue), \(key.location), now())
            ON CONFLICT (fingerprint) DO NOTHING
            """, logger: logger)
    }

    static func insert(_ certificate: CertificateRecord, _ connection: PostgresConnection, _ logger: Logger)
        async throws
    {
        do {
            try await connection.query(
                """
                INSERT INTO certificates (issuer, serial, profile, subject, not_before, not_after, key_fingerprint,
                    device_vendor, device_serial, der, status, issued_at)
                VALUES (\(certificate.issuer), \(certificate.serial), \(certificate.profile), \(certificate.subject),
                    \(certificate.notBefore), \(certificate.notAfter), \(certificate.keyFingerprint),
                    \(certificate.device?.vendor.value), \(certificate.device?.serial.value), \(Data(certificate.der)),
                    \(certificate.status.rawValue), \(certificate.issuedAt))
                """, logger: logger)
        } catch  where PostgresFailure.isUniqueViolation(error, constraint: "certificates_by_issuer_serial") {
            throw DuplicateSerialError(issuer: certificate.issuer, serial: certificate.serial)
        }
    }

    static func apply(_ change: DeviceChange, _ connection: PostgresConnection, _ logger: Logger) async throws {
        let device = change.device
        if let lot = device.lot {
            try await connection.query(
                """
                INSERT INTO lots (vendor, name, created_at)
                VALUES (\(device.id.vendor.value), \(lot), \(device.updatedAt))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        let hardwareType = device.hardwareModule?.hardwareType.description
        let hardwareSerial = device.hardwareModule.map { Data($0.serialNumber) }
        if let expected = change.expectedState {
            // Optimistic concurrency: a concurrent writer that changed the row first makes this match no row (under
            // READ COMMITTED, PostgreSQL re-checks the WHERE clause against the row that writer committed).
            let updated: [PostgresRow]
            do {
                updated = try await connection.query(
                    """
                    UPDATE devices SET state = \(device.state.rawValue), lot = \(device.lot),
                        key_fingerprint = \(device.keyFingerprint), hw_type = \(hardwareType),
                        hw_serial = \(hardwareSerial), attestation = \(device.attestation.map { Data($0.statement) }),
                        attestation_key = \(device.attestation.map { Data($0.attestationKey) }), owner = \(device.owner), updated_at = \(device.updatedAt)
                    WHERE serial = \(device.id.serial.value) AND vendor = \(device.id.vendor.value)
                        AND state = \(expected.rawValue)
                    RETURNING 1
                    """, logger: logger
                ).collect()
            } catch  where PostgresFailure.isUniqueViolation(error, constraint: "devices_by_key") {
                throw FleetkeyError.keyHeldByAnotherDevice(device)
            }
            guard updated.count == 1 else {
                throw FleetkeyError(
                    .conflict,
                    "device \(device.id) is no longer \(expected.rawValue): another process changed it first; "
                        + "re-read and retry"
                )
            }
        } else {
            do {
                try await connection.query(
                    """
                    INSERT INTO devices (vendor, serial, state, lot, key_fingerprint, hw_type, hw_serial, attestation,
                        attestation_key, owner, created_at, updated_at)
                    VALUES (\(device.id.vendor.value), \(device.id.serial.value), \(device.state.rawValue),
                        \(device.lot),
                        \(device.keyFingerprint), \(hardwareType), \(hardwareSerial),
                        \(device.attestation.map { Data($0.statement) }),
                        \(device.attestation.map { Data($0.attestationKey) }), \(device.owner), \(device.createdAt),
                        \(device.updatedAt))
                    """, logger: logger)
            } catch  where PostgresFailure.isUniqueViolation(error, constraint: "devices_by_key") {
                throw FleetkeyError.keyHeldByAnotherDevice(device)
            } catch  where PostgresFailure.isUniqueViolation(error, constraint: "devices_by_serial") {
                throw FleetkeyError(
                    .conflict, "device \(device.id) was registered by another process first; re-read and retry")
            }
        }
    }

    /// Appends events in one statement, under the event-log lock so that sequence order is commit order.
    static func append(_ events: [LifecycleEvent], _ connection: PostgresConnection, _ logger: Logger)
        async throws
    {
        guard !events.isEmpty else { return }
        try await connection.query("SELECT pg_advisory_xact_lock(\(eventLogLockKey))", logger: logger)
        var binds = PostgresBindings(capacity: events.count * 7)
        var rows: [String] = []
        for event in events {
            let first = binds.count + 1
            binds.append(event.at)
            binds.append(event.actor)
            binds.append(event.action)
            binds.append(event.subject)
            binds.append(event.fromState)
            binds.append(event.toState)
            binds.append(EventDetailJSON.encode(event.detail))
            rows.append(
                "(" + (first..<(first + 6)).map { "$\($0)" }.joined(separator: ", ") + ", $\(first + 6)::jsonb)"
            )
        }
        try await connection.query(
            PostgresQuery(
                unsafeSQL: "INSERT INTO events (at, actor, action, subject, from_state, to_state, detail) VALUES "
                    + rows.joined(separator: ", "),
                binds: binds),
            logger: logger)
    }
}
