import FleetkeyCore
import FleetkeyTesting
import Foundation
import Testing

/// Units of work at fleet sizes, on every store: each is one transaction, in statements that stay under the
/// database's bind limits, however many certificates it touches (issue 11, item 6). PostgreSQL allows 65,535 binds
/// per statement: a single INSERT of the events of 4,700 revoked devices, or of a 9,400-device manifest, exceeded it.
@Suite("Fleet-size units of work")
struct FleetSizeTests {
    static func stores(_ subject: StoreUnderTest) throws -> any RegistryStore & RevocationStore & SupplyChainStore {
        try #require(subject.store as? any RegistryStore & RevocationStore & SupplyChainStore)
    }

    @Test("a 20,000-device manifest imports in one unit", arguments: StoreKind.allCases)
    func twentyThousandDeviceManifest(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try Self.stores(subject)
            let world = try await ThrowawayEcosystem.make(store: store, now: Date())
            let fleet = SyntheticFleet(vendor: try VendorName("Acme"), lot: "BIG", prefix: "M")
            try await fleet.load(into: store, count: 20_000, unitSize: 20_000, at: world.clock.now())
            let summary = try #require(try await store.lotSummaries(lot: "BIG").first)
            #expect(summary.deviceCount == 20_000 && summary.devicesByState[.shipped] == 20_000)
            #expect(try await store.certificateCount(issuer: "vendor-acme") == 20_000 + 2)
        }
    }

    @Test(
        "revoking a 20,000-device lot is one unit: every certificate, device and event", arguments: StoreKind.allCases)
    func twentyThousandDeviceLot(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try Self.stores(subject)
            let world = try await ThrowawayEcosystem.make(store: store, now: Date())
            let fleet = SyntheticFleet(vendor: try VendorName("Acme"), lot: "L20K", prefix: "L")
            try await fleet.load(into: store, count: 20_000, at: world.clock.now())
            let before = try await store.lastEventSequence()
            let report = try await Revoker(store: store, clock: world.clock, actor: "test")
                .revoke(.lot(name: "L20K", vendor: nil), reason: .keyCompromise)
            #expect(report.revoked.count == 20_000 && report.devices == 20_000)
            #expect(try await store.lastEventSequence() == before + 40_000)
            #expect(try await store.revokedEntries(issuer: "vendor-acme").count == 20_000)
            #expect(try await store.lotSummaries(lot: "L20K").first?.devicesByState == [.revoked: 20_000])
        }
    }

    @Test("revoking a vendor with 100,000 certificates is one unit", arguments: StoreKind.allCases)
    func hundredThousandCertificateVendor(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let store = try Self.stores(subject)
            let world = try await ThrowawayEcosystem.make(store: store, now: Date())
            let fleet = SyntheticFleet(vendor: try VendorName("Acme"), lot: "V100K", prefix: "V")
            try await fleet.load(into: store, count: 100_000, at: world.clock.now())
            let report = try await Revoker(store: store, clock: world.clock, actor: "test")
                .revoke(.vendor(try VendorName("Acme")), reason: .cACompromise)
            // The devices' certificates, the vendor CA's two delegated certificates, and the CA's own.
            #expect(report.revoked.count == 100_000 + 3)
            #expect(report.devices == 100_000)
            #expect(try await store.vendor(named: try VendorName("Acme"))?.state == .revoked)
            #expect(try await store.revokedEntries(issuer: "vendor-acme").count == 100_002)
        }
    }
}
