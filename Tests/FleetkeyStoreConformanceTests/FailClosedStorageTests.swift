import Crypto
import FleetkeyCore
import FleetkeyTesting
import Foundation
import Testing
import X509

/// Storage that fails closed, on every store (issue 12, item 1): the database refuses a value Fleetkey does not know,
/// and a row that holds one anyway (written past the constraints, or by a newer Fleetkey) is never read as valid, so
/// OCSP can never answer `good` for it.
@Suite("Fail-closed storage")
struct FailClosedStorageTests {
    /// A registry with one issued device, and the SQL that writes `assignment` to its certificate row past Fleetkey.
    struct Issued {
        let subject: StoreUnderTest
        let world: ThrowawayEcosystem
        let issued: Ecosystem.IssuedCertificate

        init(_ subject: StoreUnderTest) async throws {
            self.subject = subject
            world = try await ThrowawayEcosystem.make(store: subject.store)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            issued = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "F-1").der), by: authority)
        }

        var certificateRow: String { "issuer = 'vendor-acme' AND serial = '\(issued.record.serial)'" }
    }

    /// Writes what the constraints refuse, as corruption or a newer Fleetkey would: SQLite with its CHECK constraints
    /// ignored for the statement's connection, PostgreSQL with the named constraint dropped first.
    static func pastTheConstraints(_ subject: StoreUnderTest, constraints: [String], table: String, _ sql: String)
        async throws
    {
        switch subject.kind {
        case .sqlite: try await subject.executeRaw("PRAGMA ignore_check_constraints = ON; \(sql)")
        case .postgres:
            for constraint in constraints {
                try await subject.executeRaw("ALTER TABLE \(table) DROP CONSTRAINT \(constraint)")
            }
            try await subject.executeRaw(sql)
        }
    }

    @Test(
        "the database refuses an unknown certificate status, device state, key custody or event action",
        arguments: StoreKind.allCases)
    func databaseRefuses(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await Issued(subject)
            for sql in [
                "UPDATE certificates SET status = 'bogus' WHERE \(world.certificateRow)",
                "UPDATE certificates SET revocation_reason = 7, status = 'revoked', revoked_at = not_after "
                    + "WHERE \(world.certificateRow)",
                "UPDATE devices SET state = 'bogus'",
                "UPDATE keys SET custody = 'paper'",
                "UPDATE vendors SET state = 'suspended'",
                "INSERT INTO events (at, actor, action, subject, detail) VALUES "
                    + (kind == .sqlite
                        ? "(0, 'x', 'device.teleported', 'device:Acme/F-1', '{}')"
                        : "(now(), 'x', 'device.teleported', 'device:Acme/F-1', '{}')"),
            ] {
                let error = await #expect(throws: (any Error).self, Comment(rawValue: sql)) {
                    try await subject.executeRaw(sql)
                }
                let message = StoreUnderTest.databaseMessage(error).lowercased()
                #expect(message.contains("check") || message.contains("constraint"), "\(sql): \(message)")
            }
            #expect(
                try await subject.store.certificate(issuer: "vendor-acme", serial: world.issued.record.serial)?.status
                    == .valid)
        }
    }

    @Test(
        "a status corrupted past the constraints is a storage error naming table, row and value; OCSP is not good",
        arguments: StoreKind.allCases)
    func corruptedStatusFailsClosed(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await Issued(subject)
            let revocation = try #require(subject.store as? any RevocationStore)
            // An OCSP responder over this registry, set up while the registry is sound.
            let authority = try await world.world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let signer = try await world.world.ecosystem.delegatedSigner(
                vendor: try VendorName("Acme"), profile: CertificateProfile.Name.ocspResponder, index: revocation)
            let responder = try OCSPResponder(
                issuers: [
                    try OCSPServedIssuer(
                        authorityID: authority.id, caCertificate: authority.certificate,
                        responderCertificate: signer.certificate, responderKey: signer.key)
                ], statusSource: RegistryStatusSource(store: revocation), clock: world.world.clock,
                configuration: OCSPResponderConfiguration(validity: 3600))
            let request = try OCSPRequestBuilder.requestDER(
                issuer: authority.certificate, serial: world.issued.certificate.serialNumber)
            try await Self.pastTheConstraints(
                subject, constraints: ["certificates_status_known", "certificates_revocation_consistent"],
                table: "certificates",
                "UPDATE certificates SET status = 'bogus' WHERE \(world.certificateRow)")
            let serial = world.issued.record.serial
            let error = await #expect(throws: FleetkeyError.self) {
                _ = try await subject.store.certificate(issuer: "vendor-acme", serial: serial)
            }
            #expect(error?.code == .storage)
            #expect(
                error?.reason.contains("certificates") == true && error?.reason.contains(serial) == true
                    && error?.reason.contains("'bogus'") == true, "\(String(describing: error))")
            await #expect(throws: FleetkeyError.self) {
                _ = try await revocation.certificateRefs(.certificate(issuer: "vendor-acme", serial: serial))
            }

            // The responder asks the registry on a cache miss: an internal error, never good.
            #expect(await responder.respond(to: request).responseStatus == .internalError)
        }
    }

    @Test("a device state or event action unknown to this Fleetkey fails the read", arguments: StoreKind.allCases)
    func otherEnumerationsFailClosed(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await Issued(subject)
            let device = world.issued.device.id
            try await Self.pastTheConstraints(
                subject, constraints: ["devices_state_known"], table: "devices",
                "UPDATE devices SET state = 'teleported' WHERE serial = 'F-1'")
            let error = await #expect(throws: FleetkeyError.self) { _ = try await subject.store.device(device) }
            #expect(error?.reason.contains("devices") == true && error?.reason.contains("'teleported'") == true)
            try await Self.pastTheConstraints(
                subject, constraints: ["events_action_known"], table: "events",
                "INSERT INTO events (at, actor, action, subject, detail) VALUES "
                    + (kind == .sqlite
                        ? "(0, 'x', 'device.teleported', 'device:Acme/F-1', '{}')"
                        : "(now(), 'x', 'device.teleported', 'device:Acme/F-1', '{}')"))
            let events = await #expect(throws: FleetkeyError.self) {
                _ = try await subject.store.events(subject: .device(device), limit: nil)
            }
            #expect(events?.reason.contains("'device.teleported'") == true, "\(String(describing: events))")
        }
    }

    @Test("every event action this Fleetkey writes is one its database admits", arguments: StoreKind.allCases)
    func everyActionIsAdmitted(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await Issued(subject)
            let supplyChain = try #require(subject.store as? any SupplyChainStore)
            var device = world.issued.device
            device.updatedAt = world.world.clock.now()
            try await supplyChain.change(
                DeviceChange(device: device, expectedState: device.state),
                events: EventAction.allCases.map { world.world.event($0, .device(device.id)) }, issuer: nil)
            let written = try await subject.store.events(subject: .device(device.id), limit: nil).map(\.action)
            #expect(Set(written).isSuperset(of: EventAction.allCases))
        }
    }
}
