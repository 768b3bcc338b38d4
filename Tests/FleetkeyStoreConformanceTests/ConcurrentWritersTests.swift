import FleetkeyCore
import FleetkeyTesting
import Foundation
import Testing

/// Several writers on one database, each with its own store instance and connections, as separate processes
/// have: no duplicate serials, no lost events, and no lifecycle races.
@Suite("Concurrent writers on one registry")
struct ConcurrentWritersTests {
    /// A second ecosystem on the same database and keys: what another Fleetkey process would wire up.
    static func secondProcess(_ world: ThrowawayEcosystem, store: any RegistryStore) -> Ecosystem {
        Ecosystem(
            policy: world.ecosystem.policy, store: store, custody: world.ecosystem.custody, clock: world.clock,
            random: SystemRandomSource(), actor: "test-2")
    }

    @Test(
        "two writers issuing at once: every serial distinct, every certificate and event recorded",
        arguments: StoreKind.allCases)
    func concurrentIssuance(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await ThrowawayEcosystem.make(store: subject.store)
            let writers = [world.ecosystem, Self.secondProcess(world, store: try subject.openAnother())]
            let perWriter = 200
            let requests = try (0..<(perWriter * writers.count)).map {
                try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "C-\($0)").der
            }
            let serials = try await withThrowingTaskGroup(of: [String].self) { group in
                for (index, writer) in writers.enumerated() {
                    // Two tasks per writer, so each writer also has transactions in flight side by side.
                    for lane in 0..<2 {
                        let mine = Array(requests[(index * perWriter)..<((index + 1) * perWriter)])
                            .enumerated().filter { $0.offset % 2 == lane }.map(\.element)
                        group.addTask {
                            let authority = try await writer.vendorAuthority(try VendorName("Acme"))
                            var serials: [String] = []
                            for csr in mine {
                                serials.append(
                                    try await writer.issueDeviceIdentity(.init(csr: csr, lot: "C"), by: authority)
                                        .record.serial)
                            }
                            return serials
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let total = perWriter * writers.count
            #expect(serials.count == total && Set(serials).count == total)
            let registry = subject.store
            #expect(try await registry.certificateCount(issuer: "vendor-acme") == total + 2)
            #expect(try await registry.devices(matching: DeviceFilter(lot: "C")).count == total)
            let events = try await registry.events(subject: nil, limit: nil)
            #expect(events.filter { $0.action == .certificateIssued }.count == total + 4)
            #expect(events.filter { $0.action == .deviceProvisioned }.count == total)
            #expect(events.count == 6 + 3 * total)
            let sequences = events.compactMap(\.sequence)
            #expect(Set(sequences).count == events.count && sequences == sequences.sorted())
            for serial in serials.prefix(50) {
                #expect(try await registry.certificate(issuer: "vendor-acme", serial: serial) != nil)
            }
        }
    }

    @Test(
        "two writers changing the same device from the same state: one wins, the other gets a conflict",
        arguments: StoreKind.allCases)
    func lifecycleRace(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await ThrowawayEcosystem.make(store: subject.store)
            let stores = [subject.store, try subject.openAnother()]
            let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
            var devices: [Ecosystem.IssuedCertificate] = []
            for index in 0..<20 {
                devices.append(
                    try await world.ecosystem.issueDeviceIdentity(
                        .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "R-\(index)").der),
                        by: authority))
            }
            for (index, issued) in devices.enumerated() {
                // Both read `provisioned`; one ships the device, the other revokes it, at the same moment.
                let targets: [DeviceState] = [.shipped, .revoked]
                let outcomes = await withTaskGroup(of: (Int, (any Error)?).self) { group in
                    for writer in 0..<2 {
                        var device = issued.device
                        device.state = targets[writer]
                        let unit = IssuanceUnit(
                            issuer: authority.issuing,
                            certificate: CertificateRecord(
                                issuer: "vendor-acme", serial: String(format: "7E%02X%02X", index, writer),
                                profile: "device-identity", subject: "O=Acme", notBefore: world.clock.now(),
                                notAfter: world.clock.now(), keyFingerprint: issued.device.keyFingerprint,
                                device: issued.device.id, der: [0x30, 0x00], status: .valid,
                                issuedAt: world.clock.now(),
                                crlScope: .complete),
                            key: KeyRecord(
                                fingerprint: issued.device.keyFingerprint, subjectPublicKeyInfo: [], algorithm: .p256,
                                custody: .external, location: nil, createdAt: world.clock.now()),
                            device: DeviceChange(device: device, expectedState: .provisioned),
                            events: [
                                LifecycleEvent(
                                    at: world.clock.now(), actor: "writer-\(writer)",
                                    action: targets[writer] == .shipped ? .deviceShipped : .deviceRevoked,
                                    subject: .device(issued.device.id), fromState: "provisioned",
                                    toState: targets[writer].rawValue)
                            ])
                        let store = stores[writer]
                        group.addTask {
                            do {
                                try await store.record(unit)
                                return (writer, nil)
                            } catch {
                                return (writer, error)
                            }
                        }
                    }
                    return await group.reduce(into: [Int: (any Error)?]()) { $0[$1.0] = $1.1 }
                }
                let winners = outcomes.filter { $0.value == nil }.map(\.key)
                #expect(winners.count == 1, "exactly one writer wins for \(issued.device.id): \(outcomes)")
                guard let winner = winners.first else { continue }
                let loserError = outcomes[1 - winner]!
                #expect(
                    (loserError as? FleetkeyError)?.code == .conflict,
                    "the loser gets a conflict: \(String(describing: loserError))")
                #expect((loserError as? FleetkeyError)?.reason.contains("another process changed it first") == true)
                #expect(try await stores[0].device(issued.device.id)?.state == targets[winner])
                let changes = try await stores[1].events(subject: .device(issued.device.id), limit: nil)
                    .filter { $0.actor.hasPrefix("writer-") }
                #expect(changes.map(\.actor) == ["writer-\(winner)"])
                #expect(try await stores[1].certificates(forDevice: issued.device.id).count == 2)
            }
        }
    }

    @Test(
        "two writers registering the same new device at once: one certificate, the other writer refused clearly",
        arguments: StoreKind.allCases)
    func registrationRace(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let world = try await ThrowawayEcosystem.make(store: subject.store)
            let writers = [world.ecosystem, Self.secondProcess(world, store: try subject.openAnother())]
            for index in 0..<20 {
                let serial = "N-\(index)"
                let outcomes = await withTaskGroup(of: (any Error)?.self) { group in
                    for writer in writers {
                        let csr = try? ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: serial).der
                        group.addTask {
                            do {
                                let authority = try await writer.vendorAuthority(try VendorName("Acme"))
                                _ = try await writer.issueDeviceIdentity(.init(csr: csr ?? []), by: authority)
                                return nil
                            } catch {
                                return error
                            }
                        }
                    }
                    return await group.reduce(into: [(any Error)?]()) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 == nil }.count == 1, "one writer registers \(serial): \(outcomes)")
                for case let error? in outcomes {
                    // Which error depends on timing: the loser either saw the device already provisioned, or lost the
                    // insert to the winner. Both say what happened.
                    let code = (error as? FleetkeyError)?.code
                    #expect(code == .conflict || code == .invalidTransition, "\(error)")
                }
                let device = DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial(serial))
                #expect(try await subject.store.certificates(forDevice: device).count == 1)
                #expect(
                    try await subject.store.events(subject: .device(device), limit: nil).map(\.action)
                        == [.deviceRegistered, .deviceProvisioned])
            }
        }
    }
}
