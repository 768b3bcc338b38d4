import FleetkeyCore
import FleetkeyCustody
import FleetkeySQLite
import FleetkeyTesting
import Foundation
import GRDB
import Testing
import X509

@Suite("SQLite registry")
struct SQLiteRegistryTests {
    @Test("the schema comes from named, ordered migrations")
    func migrations() throws {
        let directory = try TemporaryDirectory()
        let registry = try SQLiteRegistry(path: directory.path("registry.sqlite"))
        #expect(try registry.appliedMigrations() == ["v1-registry"])
        // Reopening applies nothing twice.
        #expect(try SQLiteRegistry(path: directory.path("registry.sqlite")).appliedMigrations() == ["v1-registry"])
    }

    @Test("two thousand issuances give two thousand distinct serials, every one in the registry")
    func twoThousandIssuances() async throws {
        let directory = try TemporaryDirectory()
        let registry = try SQLiteRegistry(path: directory.path("registry.sqlite"))
        let keystore = try SoftwareKeystore(
            directory: directory.url.appendingPathComponent("keys"), passphrase: Passphrase("test passphrase"),
            cost: ScryptCost(log2N: 14))
        let world = try await ThrowawayEcosystem.make(store: registry, custody: keystore)
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        var serials = Set<String>()
        for index in 0..<2000 {
            let (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "DEV-\(index)")
            let issued = try await world.ecosystem.issueDeviceIdentity(.init(csr: csr, lot: "L1"), by: authority)
            serials.insert(issued.record.serial)
        }
        #expect(serials.count == 2000)
        for serial in serials {
            let record = try await registry.certificate(issuer: "vendor-acme", serial: serial)
            #expect(record?.serial == serial)
        }
        // vendor CA + 2 delegated certificates were issued by root and vendor; 2000 device certificates by the vendor.
        #expect(try await registry.certificateCount(issuer: "vendor-acme") == 2002)
        #expect(try await registry.devices(matching: DeviceFilter(lot: "L1")).count == 2000)
        let issuedEvents = try await registry.events(subject: nil, limit: nil).filter { $0.action == "certificate.issued" }
        #expect(issuedEvents.count == 2000 + 4)
    }

    @Test("the store refuses a second certificate with the same issuer and serial")
    func duplicateSerial() async throws {
        let directory = try TemporaryDirectory()
        let registry = try SQLiteRegistry(path: directory.path("registry.sqlite"))
        let world = try await ThrowawayEcosystem.make(store: registry)
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        let issued = try await world.ecosystem.issueDeviceIdentity(
            .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "D1").der), by: authority)
        var copy = issued.record
        copy.device = nil
        let key = KeyRecord(
            fingerprint: issued.record.keyFingerprint, subjectPublicKeyInfo: [], algorithm: .p256, custody: .external,
            location: nil)
        await #expect(throws: DuplicateSerialError.self) {
            try await registry.record(IssuanceUnit(certificate: copy, key: key, device: nil, events: []))
        }
        #expect(try await registry.certificateCount(issuer: "vendor-acme") == 3)
    }

    @Test("a device change applies only from the state the writer read; otherwise a conflict, nothing written")
    func optimisticConcurrency() async throws {
        let directory = try TemporaryDirectory()
        let registry = try SQLiteRegistry(path: directory.path("registry.sqlite"))
        let world = try await ThrowawayEcosystem.make(store: registry)
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        let issued = try await world.ecosystem.issueDeviceIdentity(
            .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "D2").der), by: authority)
        var stale = issued.device
        stale.state = .shipped
        var certificate = issued.record
        certificate.serial = "7F00"
        let key = KeyRecord(
            fingerprint: issued.record.keyFingerprint, subjectPublicKeyInfo: [], algorithm: .p256, custody: .external,
            location: nil)
        let eventsBefore = try await registry.events(subject: nil, limit: nil).count
        await #expect(throws: FleetkeyError(.conflict, "")) {
            try await registry.record(
                IssuanceUnit(
                    certificate: certificate, key: key, device: DeviceChange(device: stale, expectedState: .generated),
                    events: [LifecycleEvent(at: Date(), actor: "t", action: "x", subject: "device:Acme/D2")]))
        }
        #expect(try await registry.certificate(issuer: "vendor-acme", serial: "7F00") == nil)
        #expect(try await registry.events(subject: nil, limit: nil).count == eventsBefore)
        #expect(try await registry.device(issued.device.id)?.state == .provisioned)
    }

    @Test("the event log is append-only: SQLite itself refuses UPDATE and DELETE")
    func appendOnly() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("registry.sqlite")
        let registry = try SQLiteRegistry(path: path)
        _ = try await ThrowawayEcosystem.make(store: registry)
        let queue = try DatabaseQueue(path: path)
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "UPDATE events SET actor = 'mallory'") } }
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM events") } }
        #expect(try await registry.events(subject: nil, limit: nil).allSatisfy { $0.actor == "test" })
    }

    @Test("vendors, authorities and devices read back as written")
    func readBack() async throws {
        let directory = try TemporaryDirectory()
        let registry = try SQLiteRegistry(path: directory.path("registry.sqlite"))
        let world = try await ThrowawayEcosystem.make(vendors: ["Acme", "Globex"], store: registry)
        #expect(try await registry.vendors().map(\.name.value) == ["Acme", "Globex"])
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Globex"))
        let (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: "Globex", serial: "G-1", hardwareSerial: "SE-G-1")
        let issued = try await world.ecosystem.issueDeviceIdentity(.init(csr: csr, lot: "GL"), by: authority)
        let device = try await registry.devices(serial: try DeviceSerial("G-1"))
        #expect(device == [issued.device])
        #expect(device.first?.hardwareModule?.serialText == "SE-G-1")
        #expect(try await registry.certificates(forDevice: issued.device.id).map(\.serial) == [issued.record.serial])
        await #expect(throws: FleetkeyError(.alreadyExists, "")) {
            try await world.ecosystem.createRoot(algorithm: .p256)
        }
    }
}
