import FleetkeyCore
import FleetkeyTesting
import Foundation
import GRDB
import Testing

@testable import FleetkeySQLite

/// Migrating a registry made by an earlier Fleetkey: v5 rebuilds the tables with CHECK constraints and records each
/// certificate's CRL scope from its own cRLDistributionPoint, keeping every row.
@Suite("SQLite registry migrations")
struct MigrationTests {
    @Test("a v4 registry with certificates and a published CRL migrates to v5 with every row and its CRL scope")
    func v4ToV5() async throws {
        // Real certificates and a real CRL, made by today's code under 4 partitions.
        var policy = try EcosystemPolicy(ecosystem: "M", baseURL: "http://127.0.0.1:8080", hardwareModuleType: "2.25.1")
        policy.revocation.crlPartitions = 4
        let source = try SQLiteRegistry.inMemory()
        let clock = FixedClock(Date(timeIntervalSince1970: 1_790_000_000))
        let ecosystem = Ecosystem(
            policy: policy, store: source, custody: InMemoryKeyCustody(), clock: clock,
            random: SeededRandomSource(seed: 9), actor: "t")
        _ = try await ecosystem.createRoot(algorithm: .p384)
        _ = try await ecosystem.addVendor(try VendorName("Acme"), algorithm: .p256)
        let authority = try await ecosystem.vendorAuthority(try VendorName("Acme"))
        for index in 0..<6 {
            _ = try await ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "M-\(index)").der),
                by: authority)
        }
        let root = try await ecosystem.rootAuthority()
        let rootCRL = try CRLPublisher(store: source, policy: policy, clock: clock).makeCRL(
            root, scope: .complete, entries: [], number: 3, now: clock.now())
        let partitionCRL = try CRLPublisher(store: source, policy: policy, clock: clock).makeCRL(
            authority, scope: .partition(2), entries: [], number: 5, now: clock.now())
        var records: [CertificateRecord] = []
        for id in ["root", "vendor-acme"] {
            for ref in try await source.certificateRefs(.issuer(id)) {
                records.append(try #require(try await source.certificate(issuer: id, serial: ref.serial)))
            }
        }

        let copied = records
        // The same rows in a registry at v4, as the Fleetkey before v5 wrote them.
        let directory = try TemporaryDirectory()
        let path = directory.path("registry.sqlite")
        let old = try DatabaseQueue(path: path)
        try RegistrySchema.migrator.migrate(old, upTo: "v4-one-device-per-key")
        let authorities = [
            try #require(try await source.authority(id: "root")),
            try #require(try await source.authority(id: "vendor-acme")),
        ]
        try await old.write { db in
            for record in authorities {
                try db.execute(
                    sql:
                        "INSERT INTO authorities (id, kind, vendor, certificate, key_reference, algorithm, created_at) "
                        + "VALUES (?, ?, ?, ?, ?, ?, 0)",
                    arguments: [
                        record.id, record.kind.rawValue, record.vendor?.value, Data(record.certificateDER),
                        record.keyReference, record.algorithm.description,
                    ])
            }
            try db.execute(
                sql:
                    "INSERT INTO vendors (name, authority_id, state, created_at) VALUES ('Acme', 'vendor-acme', 'active', 0)"
            )
            for record in copied {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO keys (fingerprint, spki, algorithm, custody, location, created_at) "
                        + "VALUES (?, x'00', 'ecdsa-p256', 'external', NULL, 0)",
                    arguments: [record.keyFingerprint])
                try db.execute(
                    sql: """
                        INSERT INTO certificates (issuer, serial, profile, subject, not_before, not_after, key_fingerprint,
                            device_vendor, device_serial, der, status, issued_at)
                        VALUES (?, ?, ?, ?, 0, ?, ?, NULL, NULL, ?, 'valid', 0)
                        """,
                    arguments: [
                        record.issuer, record.serial, record.profile, record.subject,
                        record.notAfter.timeIntervalSince1970, record.keyFingerprint, Data(record.der),
                    ])
            }
            // Before v5, the complete CRL and the first partition's both went to partition 0.
            for (issuer, partition, crl) in [("root", 0, rootCRL), ("vendor-acme", 2, partitionCRL)] {
                try db.execute(
                    sql:
                        "INSERT INTO crls (issuer, partition, number, this_update, next_update, der) VALUES (?, ?, ?, 0, 0, ?)",
                    arguments: [issuer, partition, crl.tbsCertList.crlNumber, Data(try crl.derBytes())])
            }
        }

        let migrated = try SQLiteRegistry(path: path)
        #expect(
            try migrated.appliedMigrations().suffix(3) == ["v5-fail-closed", "v6-enrollment", "v7-fleet-operations"])
        for record in records {
            let after = try #require(try await migrated.certificate(issuer: record.issuer, serial: record.serial))
            #expect(after.crlScope == record.crlScope, "\(record.profile) \(record.serial)")
            #expect(after.der == record.der)
        }
        #expect(try await migrated.latestCRL(issuer: "root", scope: .complete)?.number == 3)
        #expect(try await migrated.latestCRL(issuer: "root", scope: .partition(0)) == nil)
        #expect(try await migrated.latestCRL(issuer: "vendor-acme", scope: .partition(2))?.number == 5)
        // The constraints v5 added hold on the migrated tables.
        await #expect(throws: (any Error).self) {
            try await old.write { try $0.execute(sql: "UPDATE certificates SET status = 'bogus'") }
        }
    }
}
