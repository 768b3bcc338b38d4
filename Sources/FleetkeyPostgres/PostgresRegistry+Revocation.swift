import FleetkeyCore
import Foundation
import Logging
import PostgresNIO

/// The revocation side of the registry on PostgreSQL, statement for statement what the SQLite registry does.
///
/// Revocations are one transaction with optimistic checks (`UPDATE … WHERE status = 'valid'`, devices from the
/// state the planner read), so of two processes revoking or moving the same device, one wins and the other gets
/// `.conflict`. Because event sequence numbers are handed out in commit order (see ``PostgresRegistry``), a server
/// that polls ``revocations(after:limit:)`` never skips a revocation that another process commits later.
extension PostgresRegistry: RevocationStore {
    public func certificateRefs(_ scope: CertificateScope) async throws -> [CertificateRef] {
        var binds = PostgresBindings()
        let condition = Self.condition(scope, &binds)
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT c.issuer, c.serial, c.profile, c.device_vendor, c.device_serial, c.status, c.revoked_at,
                       c.revocation_reason, c.invalidity_date, d.state
                FROM certificates c LEFT JOIN devices d ON d.serial = c.device_serial AND d.vendor = c.device_vendor
                WHERE \(condition) ORDER BY c.issuer, c.serial
                """, binds: binds)
        let logger = self.logger
        return try await read { connection in
            try await connection.query(query, logger: logger).collect().map(Self.certificateRef)
        }
    }

    public func apply(_ revocation: RevocationUnit) async throws {
        let logger = self.logger
        try await write { connection in
            let info = revocation.info
            let reason = Int32(info.reason.rawValue)
            for certificate in revocation.certificates {
                let updated = try await connection.query(
                    """
                    UPDATE certificates SET status = 'revoked', revoked_at = \(info.revokedAt),
                        revocation_reason = \(reason), invalidity_date = \(info.invalidityDate)
                    WHERE issuer = \(certificate.issuer) AND serial = \(certificate.serial) AND status = 'valid'
                    RETURNING 1
                    """, logger: logger
                ).collect()
                guard updated.count == 1 else {
                    throw FleetkeyError(
                        .conflict,
                        "certificate \(certificate.issuer)/\(certificate.serial) is no longer valid; re-read and retry")
                }
            }
            for transition in revocation.devices {
                let moved = try await connection.query(
                    """
                    UPDATE devices SET state = \(transition.to.rawValue), updated_at = \(info.revokedAt)
                    WHERE serial = \(transition.device.serial.value) AND vendor = \(transition.device.vendor.value)
                        AND state = \(transition.from.rawValue)
                    RETURNING 1
                    """, logger: logger
                ).collect()
                guard moved.count == 1 else {
                    throw FleetkeyError(
                        .conflict,
                        "device \(transition.device) is no longer \(transition.from.rawValue); re-read and retry")
                }
            }
            if let vendor = revocation.vendor {
                try await connection.query(
                    "UPDATE vendors SET state = 'revoked' WHERE name = \(vendor.value)", logger: logger)
            }
            try await Self.append(revocation.events, connection, logger)
        }
    }

    public func revokedEntries(issuer: String) async throws -> [RevokedCertificate] {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates
                WHERE issuer = \(issuer) AND status = 'revoked' ORDER BY serial
                """, logger: logger
            ).collect().map { row in
                let (serial, revokedAt, reason, invalidityDate) = try row.decode((String, Date, Int32?, Date?).self)
                return RevokedCertificate(
                    serial: Hex.decode(serial) ?? [], revocationDate: revokedAt,
                    reason: reason.flatMap { RevocationReason(rawValue: Int($0)) }, invalidityDate: invalidityDate)
            }
        }
    }

    public func latestCRL(issuer: String, partition: Int) async throws -> PublishedCRL? {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT issuer, partition, number, this_update, next_update, der FROM crls
                WHERE issuer = \(issuer) AND partition = \(Int32(partition))
                """, logger: logger
            ).collect().first.map { row in
                let (issuer, partition, number, thisUpdate, nextUpdate, der) = try row.decode(
                    (String, Int32, Int64, Date, Date, Data).self)
                return PublishedCRL(
                    issuer: issuer, partition: Int(partition), number: number, thisUpdate: thisUpdate,
                    nextUpdate: nextUpdate, der: Array(der))
            }
        }
    }

    public func publish(_ crl: PublishedCRL) async throws -> Bool {
        let logger = self.logger
        return try await write { connection in
            // Stored only over a lower number: CRL numbers never go backwards, whichever process publishes first.
            let stored = try await connection.query(
                """
                INSERT INTO crls (issuer, partition, number, this_update, next_update, der)
                VALUES (\(crl.issuer), \(Int32(crl.partition)), \(crl.number), \(crl.thisUpdate), \(crl.nextUpdate),
                    \(Data(crl.der)))
                ON CONFLICT (issuer, partition) DO UPDATE SET number = excluded.number,
                    this_update = excluded.this_update, next_update = excluded.next_update, der = excluded.der
                WHERE excluded.number > crls.number
                RETURNING 1
                """, logger: logger
            ).collect()
            return stored.count == 1
        }
    }

    public func revocations(after sequence: Int64, limit: Int) async throws -> [RevocationNotice] {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                """
                SELECT sequence, subject FROM events WHERE action = 'certificate.revoked' AND sequence > \(sequence)
                ORDER BY sequence LIMIT \(max(0, limit))
                """, logger: logger
            ).collect().compactMap { row in
                let (sequence, subject) = try row.decode((Int64, String).self)
                return RevocationNotice(sequence: sequence, eventSubject: subject)
            }
        }
    }

    public func lastEventSequence() async throws -> Int64 {
        let logger = self.logger
        return try await read { connection in
            try await connection.query("SELECT COALESCE(max(sequence), 0)::bigint FROM events", logger: logger)
                .collect().first?.decode(Int64.self) ?? 0
        }
    }

    public func keyRecord(fingerprint: String) async throws -> KeyRecord? {
        let logger = self.logger
        return try await read { connection in
            try await connection.query(
                "SELECT fingerprint, spki, algorithm, custody, location FROM keys WHERE fingerprint = \(fingerprint)",
                logger: logger
            ).collect().first.map { row in
                let (fingerprint, spki, algorithm, custody, location) = try row.decode(
                    (String, Data, String, String, String?).self)
                return KeyRecord(
                    fingerprint: fingerprint, subjectPublicKeyInfo: Array(spki),
                    algorithm: try KeySpec(policyName: algorithm),
                    custody: KeyCustodyKind(rawValue: custody) ?? .external, location: location)
            }
        }
    }

    static func condition(_ scope: CertificateScope, _ binds: inout PostgresBindings) -> String {
        func bind(_ value: String) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        switch scope {
        case .certificate(let issuer?, let serial):
            return "c.issuer = \(bind(issuer)) AND c.serial = \(bind(serial.uppercased()))"
        case .certificate(nil, let serial):
            return "c.serial = \(bind(serial.uppercased()))"
        case .device(let id):
            return "c.device_serial = \(bind(id.serial.value)) AND c.device_vendor = \(bind(id.vendor.value))"
        case .deviceSerial(let serial):
            return "c.device_serial = \(bind(serial.value))"
        case .lot(let vendor?, let name):
            return "d.lot = \(bind(name)) AND d.vendor = \(bind(vendor.value)) AND c.device_vendor = d.vendor"
        case .lot(nil, let name):
            return "d.lot = \(bind(name))"
        case .issuer(let issuer):
            return "c.issuer = \(bind(issuer))"
        }
    }

    static func certificateRef(_ row: PostgresRow) throws -> CertificateRef {
        let (
            issuer, serial, profile, deviceVendor, deviceSerial, status, revokedAt, reason, invalidityDate, deviceState
        ) =
            try row.decode((String, String, String, String?, String?, String, Date?, Int32?, Date?, String?).self)
        var device: DeviceID?
        if let deviceVendor, let deviceSerial {
            device = DeviceID(vendor: try VendorName(deviceVendor), serial: try DeviceSerial(deviceSerial))
        }
        return CertificateRef(
            issuer: issuer, serial: serial, profile: profile, device: device,
            deviceState: deviceState.flatMap(DeviceState.init(rawValue:)),
            status: CertificateStatus(rawValue: status) ?? .valid,
            revocation: revocationInfo(revokedAt: revokedAt, reason: reason, invalidityDate: invalidityDate))
    }
}
