import FleetkeyCore
import FleetkeyCustody
import FleetkeyTesting
import Foundation
import GRDB
import Testing
import X509

/// The `RegistryStore` contract, checked the same way on every real store: SQLite and PostgreSQL.
@Suite("Registry store conformance")
struct RegistryConformanceTests {
    @Test(
        "two thousand issuances give two thousand distinct serials, every one in the registry",
        arguments: StoreKind.allCases)
    func twoThousandIssuances(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            let keystore = try SoftwareKeystore(
                directory: subject.directory.url.appendingPathComponent("keys"),
                passphrase: Passphrase("test passphrase"),
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
            // vendor CA + 2 delegated certificates were issued by root and vendor; 2000 device certificates by the
            // vendor.
            #expect(try await registry.certificateCount(issuer: "vendor-acme") == 2002)
            #expect(try await registry.devices(matching: DeviceFilter(lot: "L1")).count == 2000)
            let issuedEvents = try await registry.events(subject: nil, limit: nil).filter {
                $0.action == .certificateIssued
            }
            #expect(issuedEvents.count == 2000 + 4)
        }
    }

    @Test(
        "one key, one device: a second device presenting a key another holds is refused and nothing is recorded",
        arguments: StoreKind.allCases)
    func oneDevicePerKey(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await ThrowawayEcosystem.make(store: subject.store)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let (key, first) = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "K-1")
            _ = try await world.ecosystem.issueDeviceIdentity(.init(csr: first), by: authority)
            let certificates = try await subject.store.certificateCount(issuer: nil)
            let events = try await subject.store.events(subject: nil, limit: nil).count
            let clone = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "K-2", key: key).der
            let error = await #expect(throws: FleetkeyError.self) {
                _ = try await world.ecosystem.issueDeviceIdentity(.init(csr: clone), by: authority)
            }
            #expect(error?.code == .conflict && error?.reason.contains("already held by another device") == true)
            #expect(
                try await subject.store.device(
                    DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial("K-2"))) == nil)
            #expect(try await subject.store.certificateCount(issuer: nil) == certificates)
            #expect(try await subject.store.events(subject: nil, limit: nil).count == events)
            // Even once the first device is revoked: a key that left service is never certified again.
            let store = try #require(subject.store as? any RegistryStore & RevocationStore)
            _ = try await Revoker(store: store, clock: world.clock, actor: "test")
                .revoke(.device(serial: try DeviceSerial("K-1"), vendor: nil), reason: .keyCompromise)
            await #expect(throws: FleetkeyError.self) {
                _ = try await world.ecosystem.issueDeviceIdentity(.init(csr: clone), by: authority)
            }
        }
    }

    @Test("the store refuses a second certificate with the same issuer and serial", arguments: StoreKind.allCases)
    func duplicateSerial(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            let world = try await ThrowawayEcosystem.make(store: registry)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let issued = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "D1").der), by: authority)
            var copy = issued.record
            copy.device = nil
            let eventsBefore = try await registry.events(subject: nil, limit: nil).count
            await #expect(throws: DuplicateSerialError.self) {
                try await registry.record(
                    world.forgedIssuance(
                        copy,
                        events: [
                            world.event(.certificateIssued, .certificate(issuer: copy.issuer, serial: copy.serial))
                        ],
                        by: authority))
            }
            #expect(try await registry.certificateCount(issuer: "vendor-acme") == 3)
            // The whole unit was rolled back, its event too.
            #expect(try await registry.events(subject: nil, limit: nil).count == eventsBefore)
            // The same serial under another issuer is a different certificate (serials are unique per issuer).
            var otherIssuer = copy
            otherIssuer.issuer = "root"
            try await registry.record(
                world.forgedIssuance(otherIssuer, by: try await world.ecosystem.rootAuthority()))
            #expect(
                try await registry.certificates(serial: copy.serial).map(\.issuer).sorted() == ["root", "vendor-acme"])
            #expect(try await registry.certificates(serial: copy.serial.lowercased()).count == 2)
        }
    }

    @Test(
        "a device change applies only from the state the writer read; otherwise a conflict, nothing written",
        arguments: StoreKind.allCases)
    func optimisticConcurrency(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            let world = try await ThrowawayEcosystem.make(store: registry)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let issued = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "D2").der), by: authority)
            var stale = issued.device
            stale.state = .shipped
            var certificate = issued.record
            certificate.serial = "7F00"
            let eventsBefore = try await registry.events(subject: nil, limit: nil).count
            await #expect(throws: FleetkeyError(.conflict, "")) {
                try await registry.record(
                    world.forgedIssuance(
                        certificate, device: DeviceChange(device: stale, expectedState: .generated),
                        events: [world.event(.deviceShipped, .device(stale.id))], by: authority))
            }
            #expect(try await registry.certificate(issuer: "vendor-acme", serial: "7F00") == nil)
            #expect(try await registry.events(subject: nil, limit: nil).count == eventsBefore)
            #expect(try await registry.device(issued.device.id)?.state == .provisioned)

            // From the state it really is in, the same change applies.
            try await registry.record(
                world.forgedIssuance(
                    certificate, device: DeviceChange(device: stale, expectedState: .provisioned),
                    events: [world.event(.deviceShipped, .device(stale.id))], by: authority))
            #expect(try await registry.device(issued.device.id)?.state == .shipped)
            #expect(try await registry.events(subject: nil, limit: nil).count == eventsBefore + 1)
        }
    }

    @Test(
        "a device that already exists cannot be registered again: a conflict, nothing written",
        arguments: StoreKind.allCases)
    func registeredTwice(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            let world = try await ThrowawayEcosystem.make(store: registry)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let issued = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "D3").der), by: authority)
            var certificate = issued.record
            certificate.serial = "7F01"
            let conflict = await #expect(throws: FleetkeyError(.conflict, "")) {
                try await registry.record(
                    world.forgedIssuance(
                        certificate, device: DeviceChange(device: issued.device, expectedState: nil), by: authority))
            }
            #expect(conflict?.reason.contains("Acme/D3") == true)
            #expect(try await registry.certificate(issuer: "vendor-acme", serial: "7F01") == nil)
        }
    }

    @Test("the event log is append-only: the database itself refuses UPDATE and DELETE", arguments: StoreKind.allCases)
    func appendOnly(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            _ = try await ThrowawayEcosystem.make(store: registry)
            let update = await #expect(throws: (any Error).self) {
                try await subject.executeRaw("UPDATE events SET actor = 'mallory'")
            }
            let delete = await #expect(throws: (any Error).self) { try await subject.executeRaw("DELETE FROM events") }
            if kind == .sqlite {
                #expect(update is DatabaseError)
                #expect(delete is DatabaseError)
            } else {
                await #expect(throws: (any Error).self) { try await subject.executeRaw("TRUNCATE events") }
            }
            #expect(StoreUnderTest.databaseMessage(update).contains("the event log is append-only"))
            #expect(StoreUnderTest.databaseMessage(delete).contains("the event log is append-only"))
            #expect(try await registry.events(subject: nil, limit: nil).allSatisfy { $0.actor == "test" })
            #expect(try await registry.events(subject: nil, limit: nil).count == 6)
        }
    }

    @Test("vendors, authorities and devices read back as written", arguments: StoreKind.allCases)
    func readBack(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            let world = try await ThrowawayEcosystem.make(vendors: ["Acme", "Globex"], store: registry)
            #expect(try await registry.vendors().map(\.name.value) == ["Acme", "Globex"])
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Globex"))
            let (_, csr) = try ThrowawayEcosystem.deviceRequest(
                vendor: "Globex", serial: "G-1", hardwareSerial: "SE-G-1")
            let issued = try await world.ecosystem.issueDeviceIdentity(.init(csr: csr, lot: "GL"), by: authority)
            let device = try await registry.devices(serial: try DeviceSerial("G-1"))
            #expect(device == [issued.device])
            #expect(device.first?.hardwareModule?.serialText == "SE-G-1")
            #expect(
                try await registry.certificates(forDevice: issued.device.id).map(\.serial) == [issued.record.serial])
            #expect(try await registry.certificates(forDevice: issued.device.id) == [issued.record])
            await #expect(throws: FleetkeyError(.alreadyExists, "")) {
                try await world.ecosystem.createRoot(algorithm: .p256)
            }

            let root = try #require(try await registry.authority(id: "root"))
            #expect(root.kind == .root && root.vendor == nil && root.algorithm == .p384)
            #expect(root.certificateDER == (try world.root.derBytes()))
            let globex = try #require(try await registry.vendor(named: try VendorName("Globex")))
            #expect(globex.authorityID == "vendor-globex" && globex.state == .active)
            #expect(try await registry.authority(id: "vendor-globex")?.vendor == globex.name)
            #expect(try await registry.authority(id: "vendor-initech") == nil)
            #expect(try await registry.vendor(named: try VendorName("Initech")) == nil)
            #expect(try await registry.device(DeviceID(vendor: globex.name, serial: try DeviceSerial("NOPE"))) == nil)
            #expect(try await registry.certificate(issuer: "vendor-globex", serial: "00") == nil)
            #expect(
                try await registry.certificate(issuer: "vendor-globex", serial: issued.record.serial.lowercased())
                    == issued.record)
            // root CA; Acme and Globex CAs by root; 2 delegated certificates each; one device certificate.
            #expect(try await registry.certificateCount(issuer: nil) == 1 + 2 + 4 + 1)
            #expect(try await registry.certificateCount(issuer: "root") == 3)
        }
    }

    @Test("a second vendor with the same name is refused, and nothing of it is recorded", arguments: StoreKind.allCases)
    func vendorTwice(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            let world = try await ThrowawayEcosystem.make(store: registry)
            let before = try await registry.certificateCount(issuer: nil)
            let vendor = try #require(try await registry.vendor(named: try VendorName("Acme")))
            let authority = try #require(try await registry.authority(id: vendor.authorityID))
            await #expect(throws: FleetkeyError(.alreadyExists, "")) {
                try await registry.addVendor(vendor, authority: authority, certificates: [], keys: [], events: [])
            }
            await #expect(throws: FleetkeyError(.alreadyExists, "")) {
                _ = try await world.ecosystem.addVendor(try VendorName("Acme"), algorithm: .p256)
            }
            #expect(try await registry.certificateCount(issuer: nil) == before)
            #expect(try await registry.vendors().count == 1)
        }
    }

    @Test(
        "device listings filter by vendor, state and lot, sort by vendor then serial, and honour the limit",
        arguments: StoreKind.allCases)
    func deviceListings(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            let world = try await ThrowawayEcosystem.make(vendors: ["Acme", "Globex"], store: registry)
            for (vendor, serial, lot) in [
                ("Globex", "B-2", "L2"), ("Acme", "b-1", "L1"), ("Acme", "A-9", "L2"), ("Acme", "Z-1", "L1"),
                ("Globex", "A-9", "L1"),
            ] {
                let authority = try await world.ecosystem.vendorAuthority(try VendorName(vendor))
                _ = try await world.ecosystem.issueDeviceIdentity(
                    .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: vendor, serial: serial).der, lot: lot),
                    by: authority)
            }
            let all = try await registry.devices(matching: DeviceFilter()).map(\.id.description)
            // Byte order, as SQLite sorts: upper case before lower case.
            #expect(all == ["Acme/A-9", "Acme/Z-1", "Acme/b-1", "Globex/A-9", "Globex/B-2"])
            #expect(try await registry.devices(matching: DeviceFilter(vendor: try VendorName("Globex"))).count == 2)
            #expect(
                try await registry.devices(matching: DeviceFilter(lot: "L1")).map(\.id.description)
                    == ["Acme/Z-1", "Acme/b-1", "Globex/A-9"])
            #expect(
                try await registry.devices(matching: DeviceFilter(vendor: try VendorName("Acme"), lot: "L2")).count == 1
            )
            #expect(try await registry.devices(matching: DeviceFilter(state: .provisioned)).count == 5)
            #expect(try await registry.devices(matching: DeviceFilter(state: .active)).isEmpty)
            #expect(
                try await registry.devices(matching: DeviceFilter(limit: 2)).map(\.id.description) == [
                    "Acme/A-9", "Acme/Z-1",
                ])
            #expect(try await registry.devices(matching: DeviceFilter(limit: 0)).isEmpty)
            #expect(
                try await registry.devices(serial: try DeviceSerial("A-9")).map(\.id.vendor.value) == [
                    "Acme", "Globex",
                ])
        }
    }

    @Test(
        "events come back in append order, by subject, with their details intact, and honour the limit",
        arguments: StoreKind.allCases)
    func eventLog(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let registry = subject.store
            let world = try await ThrowawayEcosystem.make(store: registry)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let issued = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "E-1").der), by: authority)
            let all = try await registry.events(subject: nil, limit: nil)
            let sequences = all.compactMap(\.sequence)
            #expect(
                sequences.count == all.count && sequences == sequences.sorted()
                    && Set(sequences).count == sequences.count)
            #expect(
                all.map(\.action.rawValue) == [
                    "ecosystem.created", "certificate.issued", "vendor.admitted", "certificate.issued",
                    "certificate.issued",
                    "certificate.issued", "device.registered", "certificate.issued", "device.provisioned",
                ])
            let deviceEvents = try await registry.events(subject: .device(issued.device.id), limit: nil)
            #expect(deviceEvents.map(\.action) == [.deviceRegistered, .deviceProvisioned])
            #expect(deviceEvents.last?.fromState == "generated" && deviceEvents.last?.toState == "provisioned")
            #expect(deviceEvents.last?.detail == ["certificate": issued.record.serial])
            #expect(deviceEvents.last?.at == world.clock.now())
            #expect(
                try await registry.events(subject: nil, limit: 2).map(\.action) == [
                    .ecosystemCreated, .certificateIssued,
                ])
            #expect(
                try await registry.events(
                    subject: .device(DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial("NONE"))),
                    limit: nil
                ).isEmpty)

            // Details with characters JSON must escape survive the round trip.
            let detail = [
                "quote": "say \"hi\"", "slash": "a\\b/c", "newline": "1\n2\t3", "unicode": "Ünïcødé ✓",
                "empty": "",
            ]
            var copy = issued.record
            copy.serial = "7F02"
            copy.device = nil
            let note = EventSubject.certificate(issuer: copy.issuer, serial: copy.serial)
            try await registry.record(
                world.forgedIssuance(
                    copy, events: [world.event(.certificateIssued, note, detail: detail)], by: authority))
            #expect(try await registry.events(subject: note, limit: nil).first?.detail == detail)
        }
    }
}
