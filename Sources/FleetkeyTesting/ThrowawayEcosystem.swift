import Crypto
import FleetkeyCore
import FleetkeySQLite
import Foundation
import SwiftASN1
import X509

/// A complete ecosystem in memory: a root, vendors and their CAs, ready to issue in a test.
public struct ThrowawayEcosystem: Sendable {
    public let ecosystem: Ecosystem
    public let root: Certificate
    public let registry: any RegistryStore
    public let clock: FixedClock

    /// Builds one. `store` defaults to a SQLite registry in memory (the real store, kept by nothing); pass another
    /// store to test it under the core.
    public static func make(
        name: String = "Test Ecosystem",
        vendors: [String] = ["Acme"],
        store: (any RegistryStore)? = nil,
        custody: (any KeyCustody)? = nil,
        now: Date = Date(timeIntervalSince1970: 1_790_000_000),
        seed: UInt64? = nil
    ) async throws -> ThrowawayEcosystem {
        let policy = try EcosystemPolicy(
            ecosystem: name, baseURL: "http://127.0.0.1:8080", hardwareModuleType: "2.25.1234567890123")
        let clock = FixedClock(now)
        let registry = try store ?? SQLiteRegistry.inMemory()
        let random: any RandomSource = seed.map { SeededRandomSource(seed: $0) } ?? SystemRandomSource()
        let ecosystem = Ecosystem(
            policy: policy, store: registry, custody: custody ?? InMemoryKeyCustody(), clock: clock, random: random,
            actor: "test")
        let root = try await ecosystem.createRoot(algorithm: .p384)
        for vendor in vendors {
            _ = try await ecosystem.addVendor(try VendorName(vendor), algorithm: .p256)
        }
        return ThrowawayEcosystem(ecosystem: ecosystem, root: root, registry: registry, clock: clock)
    }

    /// A fresh device key and its PKCS#10 request, DER-encoded.
    public static func deviceRequest(
        vendor: String, serial: String, hardwareSerial: String? = nil, key: Certificate.PrivateKey? = nil
    ) throws -> (key: Certificate.PrivateKey, der: [UInt8]) {
        let privateKey = key ?? Certificate.PrivateKey(P256.Signing.PrivateKey())
        let hardware = try hardwareSerial.map {
            HardwareModuleName(
                hardwareType: try .init(dotRepresentation: "2.25.1234567890123"), serialNumber: Array($0.utf8))
        }
        let request = try RequestBuilder.deviceRequest(
            vendor: try VendorName(vendor), serial: try DeviceSerial(serial), hardwareModule: hardware, key: privateKey)
        return (privateKey, try request.derBytes())
    }
}

extension ThrowawayEcosystem {
    /// An issuance unit that records `certificate` again, changed as a test needs (a reused serial, a stale device
    /// state), signed by nobody: how store tests show what a store refuses without going through the CA.
    public func forgedIssuance(
        _ certificate: CertificateRecord, device: DeviceChange? = nil, events: [LifecycleEvent] = [],
        by authority: CertificateAuthority
    ) -> IssuanceUnit {
        IssuanceUnit(
            issuer: authority.issuing, certificate: certificate,
            key: KeyRecord(
                fingerprint: certificate.keyFingerprint, subjectPublicKeyInfo: [], algorithm: .p256, custody: .external,
                location: nil, createdAt: clock.now()),
            device: device, events: events)
    }

    /// An event at the world's clock.
    public func event(_ action: EventAction, _ subject: EventSubject, detail: [String: String] = [:]) -> LifecycleEvent
    {
        LifecycleEvent(at: clock.now(), actor: "test", action: action, subject: subject, detail: detail)
    }
}

extension ThrowawayEcosystem {
    /// A registry in memory for tests of the core: the real SQLite store on an in-memory database, so the core is
    /// never tested against a store that could behave differently from the ones it runs on.
    public static func inMemoryRegistry() throws -> any RegistryStore & RevocationStore & SupplyChainStore {
        try SQLiteRegistry.inMemory()
    }
}
