import Crypto
import FleetkeyCore
import FleetkeyCustody
import FleetkeyTesting
import Foundation
import Testing
import X509

/// EST enrollment (``DeviceEnrollment``) on every real store: an ecosystem's factory lot shipped to an owner's
/// registry of the same kind, whose domain CA enrolls and re-enrolls the devices in process, without TLS.
@Suite("Enrollment conformance", .serialized)
struct EnrollmentConformanceTests {
    /// The owner's side: its registry with the lot imported, its domain CA, and the enrollment rules.
    struct Owner {
        let factory: SupplyChainConformanceTests.Factory
        let subject: StoreUnderTest
        let store: any EnrollmentRegistry
        let enrollment: DeviceEnrollment

        init(_ kind: StoreKind, on ecosystem: StoreUnderTest, devices: Int) async throws {
            factory = try await SupplyChainConformanceTests.Factory(on: ecosystem)
            try await factory.provision(devices)
            let (owner, supplyChain) = try await SupplyChainConformanceTests.ownerRegistry(
                kind, root: factory.world.root)
            subject = owner
            store = try #require(supplyChain as? any EnrollmentRegistry)
            let outcome = try await SupplyChainConformanceTests.importer(store, root: factory.world.root)
                .importManifest(try await factory.export().bytes, owner: "Globex-Ops", status: .registry(factory.store))
            guard case .imported = outcome else { throw FleetkeyError(.manifestRejected, "\(outcome)") }
            let ecosystem = Ecosystem(
                policy: try EcosystemPolicy.owner(
                    name: "Globex-Ops", baseURL: "http://127.0.0.1:8081", random: SystemRandomSource()),
                store: store, custody: InMemoryKeyCustody(), clock: factory.world.clock, random: SystemRandomSource(),
                actor: "test")
            _ = try await ecosystem.createDomainCA(owner: try OwnerName("Globex-Ops"), algorithm: .p256, into: store)
            enrollment = try await DeviceEnrollment.load(
                ecosystem: ecosystem, registry: store, identityStatus: .registry(factory.store))
        }

        func element(_ index: Int) throws -> any SecureElement {
            try #require(
                try factory.elements.existingElement(factory.line.elementID(for: try factory.line.serial(index))))
        }

        func id(_ index: Int) throws -> DeviceID {
            DeviceID(vendor: try VendorName("Acme"), serial: try factory.line.serial(index))
        }

        /// A request as a device makes it: for `key` (slot 1 of its element unless given), bound by slot `bindingSlot`.
        func request(
            _ index: Int, key: Certificate.PrivateKey? = nil, bindingSlot: Int = 0, presenting certificate: Certificate
        ) throws -> DeviceEnrollment.Request {
            let element = try element(index)
            if key == nil, try element.status(ofSlot: 1).keyState == .empty { _ = try element.generateKey(inSlot: 1) }
            let csr = try RequestBuilder.enrollmentRequest(
                subject: certificate.subject, key: try key ?? element.signingKey(inSlot: 1),
                bindingKey: try element.signingKey(inSlot: bindingSlot))
            return DeviceEnrollment.Request(
                clientCertificate: try certificate.derBytes(), csr: try csr.derBytes(), peer: "192.0.2.7")
        }

        func factoryIdentity(_ index: Int) throws -> Certificate {
            try #require(try element(index).readCertificate(inSlot: 0))
        }

        func issued(_ outcome: DeviceEnrollment.Outcome) throws -> Certificate {
            guard case .issued(let certificate) = outcome else { throw FleetkeyError(.conflict, "\(outcome)") }
            return certificate
        }

        func operational(_ index: Int) async throws -> [CertificateRecord] {
            try await store.certificates(forDevice: try id(index)).filter { $0.issuer == Ecosystem.domainCAID }
        }

        func refusals() async throws -> [LifecycleEvent] {
            try await store.events(subject: nil, limit: nil).filter { $0.action == .enrollmentRefused }
        }
    }

    @Test(
        "enrollment, a retried answer, re-enrollment and its retry, and a clone, each recorded in one transaction",
        arguments: StoreKind.allCases)
    func lifecycle(_ kind: StoreKind) async throws {
        try await withStore(kind) { ecosystem in
            let owner = try await Owner(kind, on: ecosystem, devices: 2)
            let first = try owner.request(1, presenting: try owner.factoryIdentity(1))
            let ldevid = try owner.issued(try await owner.enrollment.enroll(first))
            #expect(try await owner.store.device(try owner.id(1))?.state == .active)
            // Its answer lost on the way: the same request gets the same certificate, and nothing new is issued.
            #expect(try owner.issued(try await owner.enrollment.enroll(first)) == ldevid)
            #expect(try await owner.operational(1).count == 1)

            // Re-enrollment with the same key: the old LDevID is superseded in the same transaction.
            let renewal = try owner.request(1, bindingSlot: 1, presenting: ldevid)
            let renewed = try owner.issued(try await owner.enrollment.reenroll(renewal))
            #expect(renewed.subject == ldevid.subject && renewed.serialNumber != ldevid.serialNumber)
            #expect(
                try await owner.operational(1).map(\.status).sorted { $0.rawValue > $1.rawValue } == [.valid, .revoked])
            // The renewal's answer lost: presenting the superseded LDevID again gets the current one.
            #expect(try owner.issued(try await owner.enrollment.reenroll(renewal)) == renewed)
            #expect(try await owner.operational(1).count == 2)

            // A clone: the factory identity again, with another key. Refused, and the device suspended with it.
            let clone = try owner.request(
                1, key: Certificate.PrivateKey(P256.Signing.PrivateKey()), presenting: try owner.factoryIdentity(1))
            await #expect(throws: EnrollmentRefusal.self) { try await owner.enrollment.enroll(clone) }
            #expect(try await owner.store.device(try owner.id(1))?.state == .suspended)
            #expect(try await owner.operational(1).count == 2)
            let events = try await owner.store.events(subject: .device(try owner.id(1)), limit: nil).map(\.action)
            #expect(events.contains(.cloneSuspected) && events.contains(.deviceSuspended))
            #expect(try await owner.refusals().last?.detail["rule"] == "clone")
            await owner.subject.close()
        }
    }

    @Test(
        "two first-enrollments of one device at once, with two keys: one certificate, the other refused as a clone",
        arguments: StoreKind.allCases)
    func racingClones(_ kind: StoreKind) async throws {
        try await withStore(kind) { ecosystem in
            let owner = try await Owner(kind, on: ecosystem, devices: 1)
            let identity = try owner.factoryIdentity(1)
            let requests = try (0..<2).map { _ in
                try owner.request(1, key: Certificate.PrivateKey(P256.Signing.PrivateKey()), presenting: identity)
            }
            let enrollment = owner.enrollment
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for request in requests {
                    group.addTask { (try? await enrollment.enroll(request)) != nil }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(try await owner.operational(1).count == 1)
            #expect(try await owner.store.device(try owner.id(1))?.state == .suspended)
            await owner.subject.close()
        }
    }

    @Test(
        "a unit whose key the registry knows, or whose superseded certificate is gone, writes nothing",
        arguments: StoreKind.allCases)
    func unitsWriteWholeOrNothing(_ kind: StoreKind) async throws {
        try await withStore(kind) { ecosystem in
            let owner = try await Owner(kind, on: ecosystem, devices: 1)
            let ldevid = try owner.issued(
                try await owner.enrollment.enroll(try owner.request(1, presenting: try owner.factoryIdentity(1))))
            let record = try #require(try await owner.operational(1).first)
            let device = try #require(try await owner.store.device(try owner.id(1)))
            let key = try #require(try await owner.store.keyRecord(fingerprint: record.keyFingerprint))
            let events = try await owner.store.events(subject: nil, limit: nil).count
            // Serials that differ from the real one in their first byte, whatever that byte is (a fixed prefix made
            // the "missing" superseded certificate the real one once in 128 runs).
            func other(_ prefix: String, _ alternative: String) -> String {
                (record.serial.hasPrefix(prefix) ? alternative : prefix) + record.serial.dropFirst(2)
            }
            var copy = record
            copy.serial = other("01", "02")
            let issuer = owner.enrollment.authority.issuing
            for unit in [
                // The key is already certified.
                EnrollmentUnit(
                    issuance: IssuanceUnit(
                        issuer: issuer, certificate: copy, key: key,
                        device: DeviceChange(device: device, expectedState: .active), events: []),
                    requiresNewKey: true, supersedes: []),
                // The certificate it supersedes is not valid (it does not exist).
                EnrollmentUnit(
                    issuance: IssuanceUnit(
                        issuer: issuer, certificate: copy, key: key,
                        device: DeviceChange(device: device, expectedState: .active), events: []),
                    requiresNewKey: false,
                    supersedes: [.init(issuer: Ecosystem.domainCAID, serial: other("7F", "7E"))]),
            ] {
                await #expect(throws: FleetkeyError.self) { try await owner.store.enroll(unit) }
            }
            #expect(try await owner.operational(1).map(\.serial) == [record.serial])
            #expect(try await owner.store.events(subject: nil, limit: nil).count == events)
            #expect(ldevid.serialNumber.hexString == record.serial)
            await owner.subject.close()
        }
    }
}
