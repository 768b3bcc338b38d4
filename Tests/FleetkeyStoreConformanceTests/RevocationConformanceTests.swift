import Crypto
import FleetkeyCore
import FleetkeyTesting
import Foundation
import Testing

/// The `RevocationStore` contract on every real store: selection, atomic revocation with optimistic checks, CRL
/// entries, CRL numbers that never go backwards, and the revocation feed servers poll.
@Suite("Revocation store conformance")
struct RevocationConformanceTests {
    /// A store that also revokes (both real stores do).
    static func revocationStore(_ store: any RegistryStore) throws -> any RegistryStore & RevocationStore {
        try #require(store as? any RegistryStore & RevocationStore, "\(type(of: store)) is not a RevocationStore")
    }

    @Test(
        "revoking selects by scope, records the reason, moves devices, and lists CRL entries",
        arguments: StoreKind.allCases)
    func revokeAndList(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try Self.revocationStore(subject.store)
            let world = try await ThrowawayEcosystem.make(store: store)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            var issued: [Ecosystem.IssuedCertificate] = []
            for (serial, lot) in [("V-1", "L1"), ("V-2", "L1"), ("V-3", "L2")] {
                issued.append(
                    try await world.ecosystem.issueDeviceIdentity(
                        .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: serial).der, lot: lot),
                        by: authority))
            }
            let lotRefs = try await store.certificateRefs(.lot(vendor: try VendorName("Acme"), name: "L1"))
            #expect(Set(lotRefs.map(\.serial)) == Set(issued.prefix(2).map(\.record.serial)))
            #expect(
                lotRefs.allSatisfy { $0.deviceState == .provisioned && $0.status == .valid && $0.revocation == nil })
            #expect(try await store.certificateRefs(.issuer("vendor-acme")).count == 3 + 2)
            #expect(try await store.certificateRefs(.deviceSerial(try DeviceSerial("V-3"))).count == 1)
            #expect(
                try await store.certificateRefs(.certificate(issuer: nil, serial: issued[0].record.serial.lowercased()))
                    .count == 1)
            let before = try await store.lastEventSequence()

            let compromised = Date(timeIntervalSince1970: 1_789_000_000)
            let report = try await Revoker(store: store, clock: world.clock, actor: "test")
                .revoke(.lot(name: "L1", vendor: nil), reason: .keyCompromise, invalidityDate: compromised)
            #expect(report.revoked.count == 2 && report.devices == 2)
            let revoked = try #require(
                try await store.certificate(issuer: "vendor-acme", serial: issued[0].record.serial))
            #expect(revoked.status == .revoked)
            #expect(
                revoked.revocation
                    == RevocationInfo(revokedAt: world.clock.now(), reason: .keyCompromise, invalidityDate: compromised)
            )
            #expect(try await store.device(issued[0].device.id)?.state == .revoked)
            #expect(try await store.device(issued[2].device.id)?.state == .provisioned)

            let entries = try await store.revokedEntries(issuer: "vendor-acme")
            #expect(entries.map { Hex.upper($0.entry.serial) } == issued.prefix(2).map(\.record.serial).sorted())
            #expect(
                entries.allSatisfy {
                    $0.entry.reason == .keyCompromise && $0.entry.invalidityDate == compromised && $0.scope == .complete
                })

            // The feed a server polls: the two revocations, after the sequence it had seen, in order.
            let notices = try await store.revocations(after: before, limit: 10)
            #expect(Set(notices.map(\.serial)) == Set(issued.prefix(2).map(\.record.serial)))
            #expect(notices.allSatisfy { $0.issuer == "vendor-acme" && $0.sequence > before })
            #expect(notices.map(\.sequence) == notices.map(\.sequence).sorted())
            #expect(try await store.revocations(after: notices.last!.sequence, limit: 10).isEmpty)
            #expect(try await store.revocations(after: before, limit: 1).count == 1)
            #expect(try await store.lastEventSequence() == before + 4)

            // Revoking again changes nothing and writes nothing.
            let again = try await Revoker(store: store, clock: world.clock, actor: "test")
                .revoke(.lot(name: "L1", vendor: nil), reason: .keyCompromise)
            #expect(again.revoked.isEmpty && again.alreadyRevoked == 2)
            #expect(try await store.lastEventSequence() == before + 4)
        }
    }

    @Test(
        "a revocation planned from a stale read is a conflict, and nothing of it is written",
        arguments: StoreKind.allCases)
    func staleRevocation(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try Self.revocationStore(subject.store)
            let world = try await ThrowawayEcosystem.make(store: store)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let first = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "S-1").der), by: authority)
            let second = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "S-2").der), by: authority)
            _ = try await Revoker(store: store, clock: world.clock, actor: "test")
                .revoke(.device(serial: first.device.id.serial, vendor: nil), reason: .superseded)
            let sequence = try await store.lastEventSequence()
            // A plan made before that revocation: both certificates still valid, both devices provisioned.
            let stale = RevocationUnit(
                certificates: [first, second].map { .init(issuer: "vendor-acme", serial: $0.record.serial) },
                info: RevocationInfo(revokedAt: world.clock.now(), reason: .keyCompromise),
                devices: [first, second].map { .init(device: $0.device.id, from: .provisioned, to: .revoked) },
                vendor: nil,
                events: [
                    world.event(.certificateRevoked, .certificate(issuer: "vendor-acme", serial: first.record.serial))
                ])
            let selection = RevocationSelection(scopes: [.lot(vendor: nil, name: "none")], vendor: nil)
            let error = await #expect(throws: FleetkeyError(.conflict, "")) {
                _ = try await store.revoke(selection) { _ in stale }
            }
            #expect(error?.reason.contains("revoked by another process first") == true)
            // All or nothing: the second certificate and device were not touched, no event was written.
            #expect(try await store.certificate(issuer: "vendor-acme", serial: second.record.serial)?.status == .valid)
            #expect(try await store.device(second.device.id)?.state == .provisioned)
            #expect(try await store.lastEventSequence() == sequence)
            // A device that moved on is a conflict too.
            let movedOn = RevocationUnit(
                certificates: [], info: RevocationInfo(revokedAt: world.clock.now(), reason: .keyCompromise),
                devices: [.init(device: first.device.id, from: .provisioned, to: .revoked)], vendor: nil, events: [])
            await #expect(throws: FleetkeyError(.conflict, "")) {
                _ = try await store.revoke(selection) { _ in movedOn }
            }
        }
    }

    @Test("a stored CRL is replaced only by a higher number, whoever publishes", arguments: StoreKind.allCases)
    func crlNumbersOnlyIncrease(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try Self.revocationStore(subject.store)
            _ = try await ThrowawayEcosystem.make(store: store)
            let other = try Self.revocationStore(try subject.openAnother())
            func crl(_ number: Int64, scope: CRLScope = .complete) -> PublishedCRL {
                PublishedCRL(
                    issuer: "vendor-acme", scope: scope, number: number,
                    thisUpdate: Date(timeIntervalSince1970: 1_790_000_000 + Double(number)),
                    nextUpdate: Date(timeIntervalSince1970: 1_790_086_400 + Double(number)), der: [0x30, UInt8(number)])
            }
            #expect(try await store.latestCRL(issuer: "vendor-acme", scope: .complete) == nil)
            #expect(try await store.publish(crl(5)))
            #expect(try await other.publish(crl(4)) == false)
            #expect(try await other.publish(crl(5)) == false)
            #expect(try await store.latestCRL(issuer: "vendor-acme", scope: .complete) == crl(5))
            #expect(try await other.publish(crl(6)))
            #expect(try await store.latestCRL(issuer: "vendor-acme", scope: .complete) == crl(6))
            #expect(try await store.publish(crl(1, scope: .partition(3))))
            #expect(
                try await other.latestCRL(issuer: "vendor-acme", scope: .partition(3)) == crl(1, scope: .partition(3)))
            // Many publishers at once: the highest number stands.
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for number in Int64(7)...30 {
                    let publisher = number % 2 == 0 ? store : other
                    group.addTask { try await publisher.publish(crl(number)) }
                }
                try await group.waitForAll()
            }
            #expect(try await store.latestCRL(issuer: "vendor-acme", scope: .complete)?.number == 30)
        }
    }

    @Test("a key reads back by fingerprint, without any private part", arguments: StoreKind.allCases)
    func keyByFingerprint(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try Self.revocationStore(subject.store)
            let world = try await ThrowawayEcosystem.make(store: store)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let issued = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "K-1").der), by: authority)
            let key = try #require(try await store.keyRecord(fingerprint: issued.device.keyFingerprint))
            #expect(
                key.fingerprint == issued.device.keyFingerprint && key.algorithm == .p256 && key.custody == .external)
            // The fingerprint is the SHA-256 of the stored SubjectPublicKeyInfo: the public key itself came back.
            #expect(Hex.lower(SHA256.hash(data: key.subjectPublicKeyInfo)) == key.fingerprint)
            #expect(key.subjectPublicKeyInfo.count == 91)
            #expect(try await store.keyRecord(fingerprint: String(repeating: "0", count: 64)) == nil)
        }
    }
}

extension RevocationConformanceTests {
    @Test(
        "each certificate keeps the CRL scope it was issued with; the store lists those unexpired ones name",
        arguments: StoreKind.allCases)
    func recordedCRLScopes(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try Self.revocationStore(subject.store)
            let world = try await ThrowawayEcosystem.make(store: store)
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            let whole = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "W-1").der), by: authority)
            #expect(whole.record.crlScope == .complete)
            var partitioned = world.ecosystem.policy
            partitioned.revocation.crlPartitions = 4
            let later = Ecosystem(
                policy: partitioned, store: store, custody: world.ecosystem.custody, clock: world.clock,
                random: SeededRandomSource(seed: 3), actor: "test")
            let authority4 = try await later.vendorAuthority(try VendorName("Acme"))
            var scopes = Set<CRLScope>()
            for index in 0..<12 {
                let issued = try await later.issueDeviceIdentity(
                    .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "P-\(index)").der),
                    by: authority4)
                let stored = try #require(
                    try await store.certificate(issuer: "vendor-acme", serial: issued.record.serial))
                #expect(stored.crlScope == issued.record.crlScope)
                scopes.insert(try #require(stored.crlScope))
            }
            #expect(scopes.allSatisfy { if case .partition(let index) = $0 { (0..<4).contains(index) } else { false } })
            #expect(
                try await store.certificate(issuer: "vendor-acme", serial: whole.record.serial)?.crlScope == .complete)
            let named = try await store.crlScopes(issuer: "vendor-acme", unexpiredAt: world.clock.now())
            #expect(Set(named) == scopes.union([.complete]))
            #expect(named == named.sorted())
            // Once every certificate has expired, no scope is named any more.
            #expect(
                try await store.crlScopes(
                    issuer: "vendor-acme", unexpiredAt: world.clock.now().addingTimeInterval(86_400 * 365 * 40)
                ).isEmpty)
        }
    }
}
