import FleetkeyCore
import FleetkeyTesting
import Foundation
import Testing
import X509

/// The `AccessStore` and `FleetOperationsStore` contracts, checked the same way on every real store: groups and
/// policies, certificates by expiry, and webhook deliveries.
@Suite("Fleet operations store conformance")
struct FleetOperationsConformanceTests {
    static let day: TimeInterval = 86_400
    static let year: TimeInterval = 365 * day

    @Test(
        "groups and policies read back as written; a second group of a name and an unknown group are refused",
        arguments: StoreKind.allCases)
    func groupsAndPolicies(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await ThrowawayEcosystem.make(store: subject.store)
            let store = try #require(subject.store as? any AccessStore & RegistryStore)
            let at = world.clock.now()
            let group = DeviceGroup(name: "sensors", attributes: ["site": "berlin"], selectors: [], createdAt: at)
            try await store.createGroup(group, events: [])
            let twice = await #expect(throws: FleetkeyError.self) { try await store.createGroup(group, events: []) }
            #expect(twice?.code == .alreadyExists)
            let acme = try VendorName("Acme")
            let selectors: [GroupSelector] = [
                .vendor(acme), .lot(vendor: nil, name: "L1"), .device(vendor: acme, serial: try DeviceSerial("S-1")),
            ]
            try await store.addSelectors(selectors, toGroup: "sensors", events: [])
            try await store.addSelectors([.vendor(acme)], toGroup: "sensors", events: [])
            let unknown = await #expect(throws: FleetkeyError.self) {
                try await store.addSelectors([.vendor(acme)], toGroup: "nobody", events: [])
            }
            #expect(unknown?.code == .notFound)
            let read = try await store.groups()
            #expect(read.count == 1)
            #expect(read.first?.attributes == ["site": "berlin"])
            #expect(Set(read.first?.selectors ?? []) == Set(selectors))

            #expect(try await store.accessPolicy() == nil)
            for document in ["{\"version\": 1, \"rules\": []}", "{\"version\": 1, \"rules\": [ ]}"] {
                let policy = try AccessPolicy(document: Array(document.utf8), knownGroups: nil)
                try await store.setAccessPolicy(
                    StoredAccessPolicy(document: policy.document, digest: policy.digest, loadedAt: at), events: [])
            }
            #expect(try await store.accessPolicy()?.document == Array("{\"version\": 1, \"rules\": [ ]}".utf8))
        }
    }

    @Test(
        "certificates by expiry come from the window alone, revoked ones left out; CAs count what their expiry cuts short",
        arguments: StoreKind.allCases)
    func expiry(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await ThrowawayEcosystem.make(vendors: ["Acme", "Initech"], store: subject.store)
            let store = try #require(subject.store as? any FleetOperationsStore & RegistryStore)
            let start = world.clock.now()
            func issue(_ vendor: String, _ serial: String, lot: String) async throws -> Ecosystem.IssuedCertificate {
                let authority = try await world.ecosystem.vendorAuthority(try VendorName(vendor))
                let (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: vendor, serial: serial)
                return try await world.ecosystem.issueDeviceIdentity(.init(csr: csr, lot: lot), by: authority)
            }
            // Two lots a day apart, then (six years on) two certificates that Acme's 25-year CA cuts short.
            let early = try await issue("Acme", "A-1", lot: "L1")
            _ = try await issue("Initech", "I-1", lot: "L1")
            world.clock.advance(by: Self.day)
            _ = try await issue("Acme", "A-2", lot: "L2")
            let revoked = try await issue("Acme", "A-3", lot: "L2")
            let revocations = try #require(subject.store as? any RevocationStore & RegistryStore)
            _ = try await Revoker(store: revocations, clock: world.clock, actor: "test")
                .revoke(.device(serial: revoked.device.id.serial, vendor: nil), reason: .keyCompromise)
            world.clock.advance(by: 6 * Self.year)
            _ = try await issue("Acme", "A-4", lot: "L3")
            _ = try await issue("Acme", "A-5", lot: "L3")

            // The first day's certificates, not the second's, and not the revoked one.
            let firstDay = early.record.notAfter
            let window = try await store.expiringCertificates(
                in: firstDay.addingTimeInterval(-60)...firstDay.addingTimeInterval(Self.day / 2), limit: nil)
            #expect(window.map(\.device?.serial.value).compactMap { $0 }.sorted() == ["A-1", "I-1"])
            #expect(window.first { $0.device?.serial.value == "A-1" }?.lot == "L1")
            let both = try await store.expiringCertificates(
                in: firstDay.addingTimeInterval(-60)...firstDay.addingTimeInterval(2 * Self.day), limit: nil)
            #expect(both.compactMap { $0.device?.serial.value } == ["A-1", "I-1", "A-2"])
            #expect(
                try await store.expiringCertificates(in: firstDay...firstDay.addingTimeInterval(Self.day), limit: 1)
                    .count == 1)

            // Acme's CA expires 25 years after the start: the two later certificates end with it, the rest before.
            let acmeCA = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let caNotAfter = acmeCA.certificate.notValidAfter
            #expect(try await store.validCertificateCount(issuer: "vendor-acme", notAfterAtOrAfter: caNotAfter) == 2)
            #expect(try await store.validCertificateCount(issuer: "vendor-initech", notAfterAtOrAfter: caNotAfter) == 0)

            // The report, ten days before Acme's CA expires: the CA and what it strands; the devices are not in the
            // window. By scope, the earlier window's certificates.
            world.clock.set(caNotAfter.addingTimeInterval(-10 * Self.day))
            let reporter = ExpiryReporter(store: store, clock: world.clock, renewal: nil)
            let nearCA = try await reporter.report(within: 30 * Self.day, scope: .all)
            #expect(nearCA.authorities.map(\.id) == ["vendor-acme", "vendor-initech"])
            #expect(nearCA.authorities.first?.outlivingCertificates == 2)
            #expect(nearCA.authorities.first?.daysLeft == 9 || nearCA.authorities.first?.daysLeft == 10)
            world.clock.set(firstDay.addingTimeInterval(-Self.day / 2))
            let byLot = try await reporter.report(within: 3 * Self.day, scope: .lot("L1"))
            #expect(byLot.certificates.compactMap(\.device).sorted() == ["Acme/A-1", "Initech/I-1"])
            let byVendor = try await reporter.report(within: 3 * Self.day, scope: .vendor(try VendorName("Initech")))
            #expect(byVendor.certificates.compactMap(\.device) == ["Initech/I-1"])
            let group = DeviceGroup(
                name: "g", attributes: [:],
                selectors: [.lot(vendor: try VendorName("Acme"), name: "L2")], createdAt: start)
            let byGroup = try await reporter.report(within: 3 * Self.day, scope: .group(group))
            #expect(byGroup.certificates.compactMap(\.device) == ["Acme/A-2"])
            #expect(byGroup.authorities.isEmpty)
            await #expect(throws: FleetkeyError.self) { try await reporter.report(within: 0, scope: .all) }
        }
    }

    @Test(
        "a webhook notice is queued once by its idempotency key, retried when due, and delivered once",
        arguments: StoreKind.allCases)
    func deliveries(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try #require(subject.store as? any FleetOperationsStore)
            let at = Date(timeIntervalSince1970: 1_790_000_000)
            func notice(_ key: String) -> WebhookDelivery {
                WebhookDelivery(
                    idempotencyKey: key, endpoint: "ops", body: Array("{\"k\":\"\(key)\"}".utf8), state: .pending,
                    attempts: 0, nextAttemptAt: at, lastError: nil, createdAt: at, deliveredAt: nil)
            }
            #expect(try await store.enqueue([notice("a"), notice("b")]) == 2)
            #expect(try await store.enqueue([notice("a"), notice("c")]) == 1)
            #expect(try await store.dueDeliveries(at: at, limit: 10).map(\.idempotencyKey).sorted() == ["a", "b", "c"])
            try await store.recordAttempt(
                "a", outcome: .failed(at: at, error: "HTTP 500", retryAt: at.addingTimeInterval(60)))
            #expect(try await store.dueDeliveries(at: at, limit: 10).map(\.idempotencyKey).sorted() == ["b", "c"])
            let retried = try await store.dueDeliveries(at: at.addingTimeInterval(60), limit: 10)
            #expect(retried.first { $0.idempotencyKey == "a" }?.attempts == 1)
            #expect(retried.first { $0.idempotencyKey == "a" }?.lastError == "HTTP 500")
            try await store.recordAttempt("a", outcome: .delivered(at: at.addingTimeInterval(61)))
            let again = await #expect(throws: FleetkeyError.self) {
                try await store.recordAttempt("a", outcome: .delivered(at: at.addingTimeInterval(62)))
            }
            #expect(again?.code == .conflict)
            let all = try await store.deliveries(limit: 10)
            #expect(all.first { $0.idempotencyKey == "a" }?.state == .delivered)
            #expect(all.first { $0.idempotencyKey == "a" }?.attempts == 2)
            #expect(try await store.dueDeliveries(at: at.addingTimeInterval(3_600), limit: 10).count == 2)
        }
    }
}
