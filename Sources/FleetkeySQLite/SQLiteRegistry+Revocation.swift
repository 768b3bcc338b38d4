import FleetkeyCore
import Foundation
import GRDB

extension SQLiteRegistry: RevocationStore {
    public func certificateRefs(_ scope: CertificateScope) async throws -> [CertificateRef] {
        let (condition, arguments) = Self.condition(scope)
        let sql = """
            SELECT c.issuer, c.serial, c.profile, c.device_vendor, c.device_serial, c.status, c.revoked_at,
                   c.revocation_reason, c.invalidity_date, d.state AS device_state
            FROM certificates c LEFT JOIN devices d ON d.serial = c.device_serial AND d.vendor = c.device_vendor
            WHERE \(condition) ORDER BY c.issuer, c.serial
            """
        return try await readRows { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.certificateRef)
        }
    }

    public func apply(_ revocation: RevocationUnit) async throws {
        try await writeRows { db in
            let info = revocation.info
            let update = try db.cachedStatement(
                sql: """
                    UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?, invalidity_date = ?
                    WHERE issuer = ? AND serial = ? AND status = 'valid'
                    """)
            for certificate in revocation.certificates {
                try update.execute(arguments: [
                    info.revokedAt.timeIntervalSince1970, info.reason.rawValue,
                    info.invalidityDate?.timeIntervalSince1970,
                    certificate.issuer, certificate.serial,
                ])
                guard db.changesCount == 1 else {
                    throw FleetkeyError(
                        .conflict,
                        "certificate \(certificate.issuer)/\(certificate.serial) is no longer valid; re-read and retry")
                }
            }
            let move = try db.cachedStatement(
                sql: "UPDATE devices SET state = ?, updated_at = ? WHERE serial = ? AND vendor = ? AND state = ?")
            for transition in revocation.devices {
                try move.execute(arguments: [
                    transition.to.rawValue, info.revokedAt.timeIntervalSince1970, transition.device.serial.value,
                    transition.device.vendor.value, transition.from.rawValue,
                ])
                guard db.changesCount == 1 else {
                    throw FleetkeyError(
                        .conflict,
                        "device \(transition.device) is no longer \(transition.from.rawValue); re-read and retry")
                }
            }
            if let vendor = revocation.vendor {
                try db.execute(sql: "UPDATE vendors SET state = 'revoked' WHERE name = ?", arguments: [vendor.value])
            }
            for event in revocation.events { try Self.append(event, db) }
        }
    }

    public func revokedEntries(issuer: String) async throws -> [RevokedCertificate] {
        try await readRows { db in
            var entries: [RevokedCertificate] = []
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates
                    WHERE issuer = ? AND status = 'revoked' ORDER BY serial
                    """, arguments: [issuer])
            while let row = try rows.next() {
                entries.append(
                    RevokedCertificate(
                        serial: Hex.decode(row[0]) ?? [], revocationDate: Date(timeIntervalSince1970: row[1]),
                        reason: (row[2] as Int?).flatMap(RevocationReason.init(rawValue:)),
                        invalidityDate: (row[3] as Double?).map(Date.init(timeIntervalSince1970:))))
            }
            return entries
        }
    }

    public func latestCRL(issuer: String, partition: Int) async throws -> PublishedCRL? {
        try await readRows { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM crls WHERE issuer = ? AND partition = ?", arguments: [issuer, partition]
            ).map {
                PublishedCRL(
                    issuer: $0["issuer"], partition: $0["partition"], number: $0["number"],
                    thisUpdate: Date(timeIntervalSince1970: $0["this_update"]),
                    nextUpdate: Date(timeIntervalSince1970: $0["next_update"]), der: Array($0["der"] as Data))
            }
        }
    }

    public func publish(_ crl: PublishedCRL) async throws -> Bool {
        try await writeRows { db in
            try db.execute(
                sql: """
                    INSERT INTO crls (issuer, partition, number, this_update, next_update, der) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (issuer, partition) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
                        next_update = excluded.next_update, der = excluded.der
                    WHERE excluded.number > crls.number
                    """,
                arguments: [
                    crl.issuer, crl.partition, crl.number, crl.thisUpdate.timeIntervalSince1970,
                    crl.nextUpdate.timeIntervalSince1970, Data(crl.der),
                ])
            return db.changesCount == 1
        }
    }

    public func revocations(after sequence: Int64, limit: Int) async throws -> [RevocationNotice] {
        try await readRows { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT sequence, subject FROM events WHERE action = 'certificate.revoked' AND sequence > ? ORDER BY sequence LIMIT ?",
                arguments: [sequence, limit]
            ).compactMap { row in
                RevocationNotice(sequence: row[0], eventSubject: row[1])
            }
        }
    }

    public func lastEventSequence() async throws -> Int64 {
        try await readRows { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence), 0) FROM events") ?? 0 }
    }

    public func keyRecord(fingerprint: String) async throws -> KeyRecord? {
        try await readRows { db in
            try Row.fetchOne(db, sql: "SELECT * FROM keys WHERE fingerprint = ?", arguments: [fingerprint]).map { row in
                KeyRecord(
                    fingerprint: row["fingerprint"], subjectPublicKeyInfo: Array(row["spki"] as Data),
                    algorithm: try KeySpec(policyName: row["algorithm"]),
                    custody: KeyCustodyKind(rawValue: row["custody"]) ?? .external, location: row["location"])
            }
        }
    }

    static func condition(_ scope: CertificateScope) -> (String, StatementArguments) {
        switch scope {
        case .certificate(let issuer?, let serial): ("c.issuer = ? AND c.serial = ?", [issuer, serial.uppercased()])
        case .certificate(nil, let serial): ("c.serial = ?", [serial.uppercased()])
        case .device(let id): ("c.device_serial = ? AND c.device_vendor = ?", [id.serial.value, id.vendor.value])
        case .deviceSerial(let serial): ("c.device_serial = ?", [serial.value])
        case .lot(let vendor?, let name):
            ("d.lot = ? AND d.vendor = ? AND c.device_vendor = d.vendor", [name, vendor.value])
        case .lot(nil, let name): ("d.lot = ?", [name])
        case .issuer(let issuer): ("c.issuer = ?", [issuer])
        }
    }

    static func certificateRef(_ row: Row) throws -> CertificateRef {
        var device: DeviceID?
        if let vendor = row["device_vendor"] as String?, let serial = row["device_serial"] as String? {
            device = DeviceID(vendor: try VendorName(vendor), serial: try DeviceSerial(serial))
        }
        return CertificateRef(
            issuer: row["issuer"], serial: row["serial"], profile: row["profile"], device: device,
            deviceState: (row["device_state"] as String?).flatMap(DeviceState.init(rawValue:)),
            status: CertificateStatus(rawValue: row["status"]) ?? .valid, revocation: revocationInfo(row))
    }

    static func revocationInfo(_ row: Row) -> RevocationInfo? {
        guard let at = row["revoked_at"] as Double? else { return nil }
        return RevocationInfo(
            revokedAt: Date(timeIntervalSince1970: at),
            reason: (row["revocation_reason"] as Int?).flatMap(RevocationReason.init(rawValue:)) ?? .unspecified,
            invalidityDate: (row["invalidity_date"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }
}
