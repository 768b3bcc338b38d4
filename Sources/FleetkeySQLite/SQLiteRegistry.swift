import FleetkeyCore
import Foundation
import GRDB
import SwiftASN1
import X509

/// The embedded registry: one SQLite file in WAL mode, through GRDB.
///
/// Each write method is one transaction. Durability: WAL with `synchronous=NORMAL` survives a crash of the
/// process (a committed issuance is never lost when Fleetkey is killed); `.full` also survives power loss
/// at the cost of an fsync per commit.
public final class SQLiteRegistry: RegistryStore {
    public enum Durability: String, Sendable {
        case normal = "NORMAL"
        case full = "FULL"
    }

    let pool: DatabasePool
    public let path: String
    private let issuances: GroupCommit

    /// Opens (creating if needed) the registry at `path` and applies pending migrations.
    public init(path: String, durability: Durability = .normal) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability.rawValue)")
            // Serials, key fingerprints and event subjects are random keys: every insert lands on another index
            // page. A 64 MiB page cache keeps those pages in memory, and checkpointing every 16k pages (64 MiB of
            // WAL) rather than SQLite's default 1k lets a hot page be rewritten many times per checkpoint and fsync.
            try db.execute(sql: "PRAGMA cache_size = -65536")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        do {
            self.pool = try DatabasePool(path: path, configuration: configuration)
            try RegistrySchema.migrator.migrate(pool)
        } catch {
            throw FleetkeyError(.storage, "cannot open the registry at \(path): \(Self.describe(error))")
        }
        self.path = path
        let pool = self.pool
        self.issuances = GroupCommit { units in
            do {
                return try await pool.write { db in
                    units.map { unit in
                        Result {
                            try db.inSavepoint {
                                try Self.write(unit, db)
                                return .commit
                            }
                        }.mapError(Self.storageError)
                    }
                }
            } catch {
                return units.map { _ in .failure(Self.storageError(error)) }
            }
        }
    }

    /// The names of the migrations applied to this registry, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try RegistrySchema.migrator.appliedMigrations(db) }
    }

    // MARK: Writes

    public func createRoot(
        _ root: AuthorityRecord, certificate: CertificateRecord, key: KeyRecord, events: [LifecycleEvent]
    ) async throws {
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM authorities WHERE kind = 'root')") == true {
                throw FleetkeyError(.alreadyExists, "this registry already has a root CA")
            }
            try Self.insert(root, db)
            try Self.insert(key, db)
            try Self.insert(certificate, db)
            for event in events { try Self.append(event, db) }
        }
    }

    public func addVendor(
        _ vendor: VendorRecord,
        authority: AuthorityRecord,
        certificates: [CertificateRecord],
        keys: [KeyRecord],
        events: [LifecycleEvent]
    ) async throws {
        try await write { db in
            try Self.insert(authority, db)
            try db.execute(
                sql: "INSERT INTO vendors (name, authority_id, state, created_at) VALUES (?, ?, ?, ?)",
                arguments: [
                    vendor.name.value, vendor.authorityID, vendor.state.rawValue,
                    vendor.createdAt.timeIntervalSince1970,
                ])
            for key in keys { try Self.insert(key, db) }
            for certificate in certificates { try Self.insert(certificate, db) }
            for event in events { try Self.append(event, db) }
        }
    }

    /// Records one issuance; concurrent calls share a transaction (``GroupCommit``), each in its own savepoint.
    public func record(_ issuance: IssuanceUnit) async throws {
        try await issuances.submit(issuance)
    }

    private static func write(_ issuance: IssuanceUnit, _ db: Database) throws {
        try insert(issuance.key, db)
        if let change = issuance.device {
            try apply(change, db)
        }
        try insert(issuance.certificate, db)
        for event in issuance.events { try append(event, db) }
    }

    /// Errors as callers see them: Fleetkey's own and duplicate serials unchanged, anything else a storage error.
    static func storageError(_ error: any Error) -> any Error {
        if error is FleetkeyError || error is DuplicateSerialError { return error }
        return FleetkeyError(.storage, "registry write failed, nothing was recorded: \(describe(error))")
    }

    // MARK: Reads

    public func authority(id: String) async throws -> AuthorityRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM authorities WHERE id = ?", arguments: [id]).map(Self.authority)
        }
    }

    public func vendor(named name: VendorName) async throws -> VendorRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM vendors WHERE name = ?", arguments: [name.value]).map(Self.vendor)
        }
    }

    public func vendors() async throws -> [VendorRecord] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM vendors ORDER BY name").map(Self.vendor) }
    }

    public func certificate(issuer: String, serial: String) async throws -> CertificateRecord? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM certificates WHERE issuer = ? AND serial = ?",
                arguments: [issuer, serial.uppercased()]
            ).map(Self.certificate)
        }
    }

    public func certificates(serial: String) async throws -> [CertificateRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM certificates WHERE serial = ? ORDER BY id", arguments: [serial.uppercased()]
            )
            .map(Self.certificate)
        }
    }

    public func certificates(forDevice device: DeviceID) async throws -> [CertificateRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM certificates WHERE device_serial = ? AND device_vendor = ? ORDER BY id",
                arguments: [device.serial.value, device.vendor.value]
            ).map(Self.certificate)
        }
    }

    public func certificateCount(issuer: String?) async throws -> Int {
        try await read { db in
            if let issuer {
                return try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM certificates WHERE issuer = ?", arguments: [issuer]) ?? 0
            }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM certificates") ?? 0
        }
    }

    public func device(_ id: DeviceID) async throws -> DeviceRecord? {
        try await read { db in
            try Self.fetchDevice(id, db)
        }
    }

    /// The synchronous point lookup used by the benchmark to measure the query itself, without task hops.
    public func deviceSynchronously(_ id: DeviceID) throws -> DeviceRecord? {
        try pool.read { db in try Self.fetchDevice(id, db) }
    }

    public func devices(serial: DeviceSerial) async throws -> [DeviceRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM devices WHERE serial = ? ORDER BY vendor", arguments: [serial.value]
            )
            .map(Self.device)
        }
    }

    public func devices(matching filter: DeviceFilter) async throws -> [DeviceRecord] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let vendor = filter.vendor {
            clauses.append("vendor = ?")
            arguments += [vendor.value]
        }
        if let state = filter.state {
            clauses.append("state = ?")
            arguments += [state.rawValue]
        }
        if let lot = filter.lot {
            clauses.append("lot = ?")
            arguments += [lot]
        }
        var sql = "SELECT * FROM devices"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY vendor, serial"
        if let limit = filter.limit { sql += " LIMIT \(max(0, limit))" }
        let query = sql
        let bound = arguments
        return try await read { db in try Row.fetchAll(db, sql: query, arguments: bound).map(Self.device) }
    }

    public func events(subject: String?, limit: Int?) async throws -> [LifecycleEvent] {
        try await read { db in
            var sql = "SELECT * FROM events"
            var arguments: StatementArguments = []
            if let subject {
                sql += " WHERE subject = ?"
                arguments += [subject]
            }
            sql += " ORDER BY sequence"
            if let limit { sql += " LIMIT \(max(0, limit))" }
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.event)
        }
    }

    // MARK: Transactions and errors

    func writeRows<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await write(body)
    }

    func readRows<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await read(body)
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as FleetkeyError {
            throw error
        } catch let error as DuplicateSerialError {
            throw error
        } catch {
            throw FleetkeyError(.storage, "registry write failed, nothing was recorded: \(Self.describe(error))")
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch let error as FleetkeyError {
            throw error
        } catch {
            throw FleetkeyError(.storage, "registry read failed: \(Self.describe(error))")
        }
    }

    /// SQLite's message without the SQL arguments (which could hold identifiers a log should not repeat).
    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "\(error.resultCode): \(error.message ?? "no message")"
        }
        return "\(error)"
    }

    // MARK: Row mapping

    static func insert(_ record: AuthorityRecord, _ db: Database) throws {
        do {
            try db.execute(
                sql: """
                    INSERT INTO authorities (id, kind, vendor, certificate, key_reference, algorithm, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.id, record.kind.rawValue, record.vendor?.value, Data(record.certificateDER),
                    record.keyReference,
                    record.algorithm.description, record.createdAt.timeIntervalSince1970,
                ])
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw FleetkeyError(.alreadyExists, "certificate authority '\(record.id)' already exists")
        }
    }

    static func insert(_ key: KeyRecord, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO keys (fingerprint, spki, algorithm, custody, location, created_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (fingerprint) DO NOTHING
                """
        ).execute(arguments: [
            key.fingerprint, Data(key.subjectPublicKeyInfo), key.algorithm.description, key.custody.rawValue,
            key.location,
            Date().timeIntervalSince1970,
        ])
    }

    static func insert(_ certificate: CertificateRecord, _ db: Database) throws {
        do {
            try db.cachedStatement(
                sql: """
                    INSERT INTO certificates (issuer, serial, profile, subject, not_before, not_after, key_fingerprint,
                        device_vendor, device_serial, der, status, issued_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                certificate.issuer, certificate.serial, certificate.profile, certificate.subject,
                certificate.notBefore.timeIntervalSince1970, certificate.notAfter.timeIntervalSince1970,
                certificate.keyFingerprint, certificate.device?.vendor.value, certificate.device?.serial.value,
                Data(certificate.der), certificate.status.rawValue, certificate.issuedAt.timeIntervalSince1970,
            ])
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw DuplicateSerialError(issuer: certificate.issuer, serial: certificate.serial)
        }
    }

    static func apply(_ change: DeviceChange, _ db: Database) throws {
        let device = change.device
        if let lot = device.lot {
            try db.cachedStatement(
                sql: "INSERT INTO lots (vendor, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
            ).execute(arguments: [device.id.vendor.value, lot, device.updatedAt.timeIntervalSince1970])
        }
        if let expected = change.expectedState {
            do {
                try update(change, expected: expected, db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw FleetkeyError.keyHeldByAnotherDevice(device)
            }
        } else {
            try insertDevice(device, db)
        }
    }

    private static func update(_ change: DeviceChange, expected: DeviceState, _ db: Database) throws {
        let device = change.device
        try db.cachedStatement(
            sql: """
                UPDATE devices SET state = ?, lot = ?, key_fingerprint = ?, hw_type = ?, hw_serial = ?, attestation = ?,
                    attestation_key = ?, owner = ?, updated_at = ?
                WHERE serial = ? AND vendor = ? AND state = ?
                """
        ).execute(arguments: [
            device.state.rawValue, device.lot, device.keyFingerprint, device.hardwareModule?.hardwareType.description,
            device.hardwareModule.map { Data($0.serialNumber) }, device.attestation.map { Data($0.statement) },
            device.attestation.map { Data($0.attestationKey) }, device.owner, device.updatedAt.timeIntervalSince1970,
            device.id.serial.value, device.id.vendor.value, expected.rawValue,
        ])
        guard db.changesCount == 1 else {
            throw FleetkeyError(
                .conflict,
                "device \(device.id) is no longer \(expected.rawValue): another process changed it first; re-read and retry"
            )
        }
    }

    private static func insertDevice(_ device: DeviceRecord, _ db: Database) throws {
        do {
            try db.cachedStatement(
                sql: """
                    INSERT INTO devices (vendor, serial, state, lot, key_fingerprint, hw_type, hw_serial, attestation,
                        attestation_key, owner, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                device.id.vendor.value, device.id.serial.value, device.state.rawValue, device.lot,
                device.keyFingerprint,
                device.hardwareModule?.hardwareType.description, device.hardwareModule.map { Data($0.serialNumber) },
                device.attestation.map { Data($0.statement) }, device.attestation.map { Data($0.attestationKey) },
                device.owner,
                device.createdAt.timeIntervalSince1970, device.updatedAt.timeIntervalSince1970,
            ])
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            if error.message?.contains("key_fingerprint") == true { throw FleetkeyError.keyHeldByAnotherDevice(device) }
            throw FleetkeyError(
                .conflict, "device \(device.id) was registered by another process first; re-read and retry")
        }
    }

    static func append(_ event: LifecycleEvent, _ db: Database) throws {
        try db.cachedStatement(
            sql:
                "INSERT INTO events (at, actor, action, subject, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ).execute(arguments: [
            event.at.timeIntervalSince1970, event.actor, event.action, event.subject, event.fromState, event.toState,
            EventDetailCoding.encode(event.detail),
        ])
    }

    private static func fetchDevice(_ id: DeviceID, _ db: Database) throws -> DeviceRecord? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM devices WHERE serial = ? AND vendor = ?"),
            arguments: [id.serial.value, id.vendor.value]
        ).map(device)
    }

    static func date(_ row: Row, _ column: String) -> Date {
        Date(timeIntervalSince1970: row[column])
    }

    private static func authority(_ row: Row) throws -> AuthorityRecord {
        AuthorityRecord(
            id: row["id"], kind: AuthorityKind(rawValue: row["kind"]) ?? .vendor,
            vendor: try (row["vendor"] as String?).map(VendorName.init),
            certificateDER: Array(row["certificate"] as Data),
            keyReference: row["key_reference"], algorithm: try KeySpec(policyName: row["algorithm"]),
            createdAt: date(row, "created_at"))
    }

    private static func vendor(_ row: Row) throws -> VendorRecord {
        VendorRecord(
            name: try VendorName(row["name"]), authorityID: row["authority_id"],
            state: VendorState(rawValue: row["state"]) ?? .revoked, createdAt: date(row, "created_at"))
    }

    private static func certificate(_ row: Row) throws -> CertificateRecord {
        var device: DeviceID?
        if let vendor = row["device_vendor"] as String?, let serial = row["device_serial"] as String? {
            device = DeviceID(vendor: try VendorName(vendor), serial: try DeviceSerial(serial))
        }
        return CertificateRecord(
            issuer: row["issuer"], serial: row["serial"], profile: row["profile"], subject: row["subject"],
            notBefore: date(row, "not_before"), notAfter: date(row, "not_after"),
            keyFingerprint: row["key_fingerprint"],
            device: device, der: Array(row["der"] as Data),
            status: CertificateStatus(rawValue: row["status"]) ?? .valid,
            issuedAt: date(row, "issued_at"), revocation: revocationInfo(row))
    }

    static func device(_ row: Row) throws -> DeviceRecord {
        var hardware: HardwareModuleName?
        if let type = row["hw_type"] as String?, let serial = row["hw_serial"] as Data? {
            hardware = HardwareModuleName(
                hardwareType: try ASN1ObjectIdentifier(dotRepresentation: type), serialNumber: Array(serial))
        }
        return DeviceRecord(
            id: DeviceID(vendor: try VendorName(row["vendor"]), serial: try DeviceSerial(row["serial"])),
            state: DeviceState(rawValue: row["state"]) ?? .generated, lot: row["lot"],
            keyFingerprint: row["key_fingerprint"],
            hardwareModule: hardware, attestation: attestation(row), owner: row["owner"],
            createdAt: date(row, "created_at"), updatedAt: date(row, "updated_at"))
    }

    private static func attestation(_ row: Row) -> FactoryAttestation? {
        guard let statement = row["attestation"] as Data?, let key = row["attestation_key"] as Data? else { return nil }
        return FactoryAttestation(statement: Array(statement), attestationKey: Array(key))
    }

    private static func event(_ row: Row) -> LifecycleEvent {
        LifecycleEvent(
            sequence: row["sequence"], at: date(row, "at"), actor: row["actor"], action: row["action"],
            subject: row["subject"], fromState: row["from_state"], toState: row["to_state"],
            detail: EventDetailCoding.decode(row["detail"]))
    }
}

extension SQLiteRegistry {
    /// Latency samples (ns) of a rowid point query on the devices table through the same read path as
    /// ``deviceSynchronously(_:)``: the floor any lookup in this database can reach. Used by the benchmark.
    public func rowidLookupSamples(count: Int, maximum: Int64) throws -> [UInt64] {
        var generator = SystemRandomNumberGenerator()
        var samples: [UInt64] = []
        samples.reserveCapacity(count)
        for _ in 0..<count {
            let id = Int64.random(in: 1...max(1, maximum), using: &generator)
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try pool.read { db in
                try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM devices WHERE id = ?"), arguments: [id])
            }
            samples.append(DispatchTime.now().uptimeNanoseconds - start)
        }
        return samples
    }
}
