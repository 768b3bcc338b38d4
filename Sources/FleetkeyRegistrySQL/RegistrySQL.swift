import FleetkeyCore
import Foundation
import SwiftASN1

/// The registry's statements, written once for SQLite and PostgreSQL: what each write does to which rows, and what
/// each refusal means. The stores only run them (``SQLRegistry``).
package enum RegistrySQL {
    // MARK: Rows written

    package static func insert(_ record: AuthorityRecord) -> SQLStatement {
        SQLStatement(
            "INSERT INTO authorities (\(RegistryRecords.authorityColumns)) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                .text(record.id), .text(record.kind.rawValue), .text(record.vendor?.value),
                .blob(record.certificateDER), .text(record.keyReference), .text(record.algorithm.description),
                .date(record.createdAt),
            ],
            onDuplicate: [
                .authorityID: FleetkeyError(.alreadyExists, "certificate authority '\(record.id)' already exists"),
                .oneRoot: FleetkeyError(.alreadyExists, "this registry already has a root CA"),
            ])
    }

    /// An authority the registry may already know (an owner's registry learns them from each manifest).
    package static func insertIfMissing(_ record: AuthorityRecord) -> SQLStatement {
        var statement = insert(record)
        statement.sql += " ON CONFLICT (id) DO NOTHING"
        return statement
    }

    package static func insert(_ vendor: VendorRecord, ifMissing: Bool = false) -> SQLStatement {
        let exists = FleetkeyError(.alreadyExists, "vendor '\(vendor.name)' already exists; see `fleetkey vendor list`")
        return SQLStatement(
            "INSERT INTO vendors (\(RegistryRecords.vendorColumns)) VALUES (?, ?, ?, ?)"
                + (ifMissing ? " ON CONFLICT (name) DO NOTHING" : ""),
            [
                .text(vendor.name.value), .text(vendor.authorityID), .text(vendor.state.rawValue),
                .date(vendor.createdAt),
            ],
            onDuplicate: [.vendorName: exists, .vendorAuthority: exists])
    }

    /// Keys, each recorded once: a key seen again keeps its first record.
    package static func insert(keys: [KeyRecord]) -> [SQLStep] {
        SQLBatch.statements(
            "INSERT INTO keys (\(RegistryRecords.keyColumns))",
            keys.map { key in
                [
                    .text(key.fingerprint), .blob(key.subjectPublicKeyInfo), .text(key.algorithm.description),
                    .text(key.custody.rawValue), .text(key.location), .date(key.createdAt),
                ]
            }, tail: " ON CONFLICT (fingerprint) DO NOTHING"
        ).map { .run($0.statement) }
    }

    static func row(_ certificate: CertificateRecord) -> [SQLValue] {
        [
            .text(certificate.issuer), .text(certificate.serial), .text(certificate.profile),
            .text(certificate.subject), .date(certificate.notBefore), .date(certificate.notAfter),
            .text(certificate.keyFingerprint), .text(certificate.device?.vendor.value),
            .text(certificate.device?.serial.value), .blob(certificate.der), .text(certificate.status.rawValue),
            .date(certificate.issuedAt), .date(certificate.revocation?.revokedAt),
            .int(certificate.revocation?.reason.rawValue), .date(certificate.revocation?.invalidityDate),
            .int(certificate.crlScope?.storedValue),
        ]
    }

    /// Certificates; a serial the issuer already used is a ``DuplicateSerialError`` unless `ifMissing`, where a
    /// certificate the registry holds already is left as it is.
    package static func insert(certificates: [CertificateRecord], ifMissing: Bool = false) -> [SQLStep] {
        let duplicate: [UniqueIndex: any Error] =
            certificates.count == 1
            ? [.issuerSerial: DuplicateSerialError(issuer: certificates[0].issuer, serial: certificates[0].serial)]
            : [:]
        return SQLBatch.statements(
            "INSERT INTO certificates (\(RegistryRecords.certificateColumns))", certificates.map(row),
            tail: ifMissing ? " ON CONFLICT (issuer, serial) DO NOTHING" : "", onDuplicate: duplicate
        ).map { .run($0.statement) }
    }

    static func row(_ device: DeviceRecord) -> [SQLValue] {
        [
            .text(device.id.vendor.value), .text(device.id.serial.value), .text(device.state.rawValue),
            .text(device.lot), .text(device.keyFingerprint), .text(device.hardwareModule?.hardwareType.description),
            .blob(device.hardwareModule?.serialNumber), .blob(device.attestation?.statement),
            .blob(device.attestation?.attestationKey), .text(device.owner), .date(device.createdAt),
            .date(device.updatedAt),
        ]
    }

    /// One device inserted (`expectedState == nil`) or moved from the state its writer read, and its lot.
    package static func apply(_ change: DeviceChange) -> [SQLStep] {
        apply([change])
    }

    /// Devices inserted or moved; any of them not in the state its writer read fails the whole unit.
    package static func apply(_ changes: [DeviceChange]) -> [SQLStep] {
        var steps = insert(lots: changes.map(\.device))
        let inserts = changes.filter { $0.expectedState == nil }.map(\.device)
        let single = inserts.count == 1 ? inserts.first : nil
        steps += SQLBatch.statements(
            "INSERT INTO devices (\(RegistryRecords.deviceColumns))", inserts.map(row),
            onDuplicate: [
                .deviceKey: single.map(FleetkeyError.keyHeldByAnotherDevice) ?? FleetkeyError.registeredMeanwhile,
                .deviceSerial: single.map { FleetkeyError.deviceRegisteredFirst($0.id) }
                    ?? FleetkeyError.registeredMeanwhile,
            ]
        ).map { .run($0.statement) }
        for change in changes {
            guard let expected = change.expectedState else { continue }
            let device = change.device
            steps.append(
                .run(
                    SQLStatement(
                        """
                        UPDATE devices SET state = ?, lot = ?, key_fingerprint = ?, hw_type = ?, hw_serial = ?,
                            attestation = ?, attestation_key = ?, owner = ?, updated_at = ?
                        WHERE serial = ? AND vendor = ? AND state = ? RETURNING 1
                        """,
                        [
                            .text(device.state.rawValue), .text(device.lot), .text(device.keyFingerprint),
                            .text(device.hardwareModule?.hardwareType.description),
                            .blob(device.hardwareModule?.serialNumber), .blob(device.attestation?.statement),
                            .blob(device.attestation?.attestationKey), .text(device.owner), .date(device.updatedAt),
                            .text(device.id.serial.value), .text(device.id.vendor.value), .text(expected.rawValue),
                        ], onDuplicate: [.deviceKey: FleetkeyError.keyHeldByAnotherDevice(device)]),
                    expect: SQLExpectation(
                        rows: 1, otherwise: FleetkeyError.deviceChanged(device.id, expected: expected))))
        }
        return steps
    }

    static func insert(lots devices: [DeviceRecord]) -> [SQLStep] {
        var seen = Set<[String]>()
        let rows = devices.compactMap { device -> [SQLValue]? in
            guard let lot = device.lot, seen.insert([device.id.vendor.value, lot]).inserted else { return nil }
            return [.text(device.id.vendor.value), .text(lot), .date(device.updatedAt)]
        }
        return SQLBatch.statements("INSERT INTO lots (vendor, name, created_at)", rows, tail: " ON CONFLICT DO NOTHING")
            .map { .run($0.statement) }
    }

    /// Events, appended in order in as few statements as the bind limits allow.
    package static func append(_ events: [LifecycleEvent], _ dialect: SQLDialect) -> [SQLStep] {
        guard !events.isEmpty else { return [] }
        let rows: [[SQLValue]] = events.map { event in
            [
                .date(event.at), .text(event.actor), .text(event.action.rawValue), .text(event.subject.description),
                .text(event.fromState), .text(event.toState), .json(EventDetailJSON.encode(event.detail)),
            ]
        }
        return (dialect.beforeAppendingEvents.map { [.run($0)] } ?? [])
            + SQLBatch.statements(
                "INSERT INTO events (at, actor, action, subject, from_state, to_state, detail)", rows
            ).map { .run($0.statement) }
    }

    /// Refuses an issuance whose vendor, or whose CA's certificate, was revoked after the CA was loaded. The rows read
    /// are held until commit where the database has row locks: the vendor first, then the CA certificate, the order
    /// a vendor's revocation takes them in, so the two wait for each other instead of deadlocking.
    package static func check(_ issuer: IssuingAuthority, _ dialect: SQLDialect) -> [SQLStep] {
        var steps: [SQLStep] = []
        if let vendor = issuer.vendor {
            steps.append(
                .run(
                    SQLStatement(
                        "SELECT 1 FROM vendors WHERE name = ? AND authority_id = ? AND state = 'active'"
                            + dialect.lockForShare,
                        [.text(vendor.value), .text(issuer.id)]),
                    expect: SQLExpectation(rows: 1, otherwise: FleetkeyError.vendorNoLongerActive(vendor))))
        }
        steps.append(
            .run(
                SQLStatement(
                    "SELECT 1 FROM certificates WHERE issuer = ? AND serial = ? AND status = 'valid'"
                        + dialect.lockForShare,
                    [.text(issuer.certificate.issuer), .text(issuer.certificate.serial)]),
                expect: SQLExpectation(rows: 1, otherwise: FleetkeyError.issuerCertificateRevoked(issuer.id))))
        return steps
    }

    /// Everything one issuance writes, after its issuer is checked.
    package static func record(_ issuance: IssuanceUnit, _ dialect: SQLDialect) -> [SQLStep] {
        check(issuance.issuer, dialect) + insert(keys: [issuance.key])
            + (issuance.device.map(apply) ?? []) + insert(certificates: [issuance.certificate])
            + append(issuance.events, dialect)
    }

    // MARK: Revocation

    /// Revokes certificates that are still valid, and moves devices from the states the plan saw; either finding a
    /// row changed fails the unit with `.conflict`.
    package static func apply(_ revocation: RevocationUnit, _ dialect: SQLDialect) -> [SQLStep] {
        let info = revocation.info
        var steps: [SQLStep] = []
        if let vendor = revocation.vendor {
            steps.append(
                .run(SQLStatement("UPDATE vendors SET state = 'revoked' WHERE name = ?", [.text(vendor.value)])))
        }
        steps += SQLBatch.checkedUpdates(
            "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?, invalidity_date = ? "
                + "FROM (",
            leading: [.date(info.revokedAt), .int(info.reason.rawValue), .date(info.invalidityDate)],
            revocation.certificates.map { [.text($0.issuer), .text($0.serial)] },
            tail: ") AS t WHERE certificates.issuer = t.column1 AND certificates.serial = t.column2 "
                + "AND certificates.status = 'valid' RETURNING 1",
            otherwise: FleetkeyError.revokedMeanwhile)
        steps += SQLBatch.checkedUpdates(
            "UPDATE devices SET state = t.column3, updated_at = ? FROM (", leading: [.date(info.revokedAt)],
            revocation.devices.map {
                [
                    .text($0.device.serial.value), .text($0.device.vendor.value), .text($0.to.rawValue),
                    .text($0.from.rawValue),
                ]
            },
            tail: ") AS t WHERE devices.serial = t.column1 AND devices.vendor = t.column2 "
                + "AND devices.state = t.column4 RETURNING 1",
            otherwise: FleetkeyError.movedMeanwhile)
        return steps + append(revocation.events, dialect)
    }

    /// The certificates a scope selects, with their devices' states.
    package static func certificateRefs(_ scope: CertificateScope) -> SQLStatement {
        let (condition, values) = condition(scope)
        return SQLStatement(
            """
            SELECT c.issuer, c.serial, c.profile, c.device_vendor, c.device_serial, c.status, c.revoked_at,
                   c.revocation_reason, c.invalidity_date, d.state AS device_state
            FROM certificates c LEFT JOIN devices d ON d.serial = c.device_serial AND d.vendor = c.device_vendor
            WHERE \(condition) ORDER BY c.issuer, c.serial
            """, values)
    }

    static func condition(_ scope: CertificateScope) -> (String, [SQLValue]) {
        switch scope {
        case .certificate(let issuer?, let serial):
            ("c.issuer = ? AND c.serial = ?", [.text(issuer), .text(serial.uppercased())])
        case .certificate(nil, let serial): ("c.serial = ?", [.text(serial.uppercased())])
        case .device(let id):
            ("c.device_serial = ? AND c.device_vendor = ?", [.text(id.serial.value), .text(id.vendor.value)])
        case .deviceSerial(let serial): ("c.device_serial = ?", [.text(serial.value)])
        case .lot(let vendor?, let name):
            ("d.lot = ? AND d.vendor = ? AND c.device_vendor = d.vendor", [.text(name), .text(vendor.value)])
        case .lot(nil, let name): ("d.lot = ?", [.text(name)])
        case .issuer(let issuer): ("c.issuer = ?", [.text(issuer)])
        }
    }

    // MARK: Helpers

    /// `columns` with each name qualified by `alias` (`c.issuer, c.serial, …`), for joins.
    package static func qualified(_ columns: String, _ alias: String) -> String {
        columns.split(separator: ",").map { "\(alias).\($0.trimmingCharacters(in: .whitespaces))" }
            .joined(separator: ", ")
    }

    /// `?, ?, …` for an IN list.
    package static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }
}
