import FleetkeyCore
import Foundation

/// Builds a large registry for the lookup workloads through the store's own bulk path: synthetic devices shipped to
/// an owner in manifest imports of ``unitSize`` devices each, so the benchmark writes nothing behind the store's back.
///
/// Devices are `DEV-<n>` of vendor Acme (made by ``FleetkeyTesting/ThrowawayEcosystem``), each with its own key and a
/// placeholder certificate row: lookups read devices, and the store never parses what it keeps.
enum BenchFleet {
    static let unitSize = 10_000
    static let owner = "Bench Owner"

    static func load(
        _ store: any RegistryStore & SupplyChainStore, devices: Int, progress: @Sendable (String) -> Void
    ) async throws {
        let vendor = try VendorName("Acme")
        guard let vendorRecord = try await store.vendor(named: vendor),
            let authority = try await store.authority(id: vendorRecord.authorityID),
            let root = try await store.authority(id: "root")
        else { throw FleetkeyError(.notFound, "the bench fleet needs vendor Acme in the registry") }
        let now = Date()
        if try await store.owner(named: owner) == nil {
            try await store.addOwner(OwnerRecord(name: owner, createdAt: now), events: [])
        }
        let spki = [UInt8](repeating: 0x04, count: 91)
        for start in stride(from: 0, to: devices, by: unitSize) {
            let range = start..<min(devices, start + unitSize)
            var keys: [KeyRecord] = []
            var certificates: [CertificateRecord] = []
            var changes: [DeviceChange] = []
            for index in range {
                let fingerprint = fingerprintText(index)
                let id = DeviceID(vendor: vendor, serial: try DeviceSerial(serial(index)))
                keys.append(
                    KeyRecord(
                        fingerprint: fingerprint, subjectPublicKeyInfo: spki, algorithm: .p256, custody: .secureElement,
                        location: nil, createdAt: now))
                certificates.append(
                    CertificateRecord(
                        issuer: authority.id, serial: String(format: "%016X", index + 1), profile: "device-identity",
                        subject: "O=Acme,serialNumber=\(serial(index))", notBefore: now,
                        notAfter: now.addingTimeInterval(86_400 * 365), keyFingerprint: fingerprint, device: id,
                        der: [0x30, 0x00], status: .valid, issuedAt: now, crlScope: .complete))
                changes.append(
                    DeviceChange(
                        device: DeviceRecord(
                            id: id, state: .shipped, lot: "LOT", keyFingerprint: fingerprint, hardwareModule: nil,
                            owner: owner, createdAt: now, updatedAt: now),
                        expectedState: nil))
            }
            let digest = String(format: "%064x", start)
            _ = try await store.importManifest(
                ManifestImportUnit(
                    manifest: ImportedManifest(
                        digest: digest, vendor: vendor, lot: "LOT", owner: owner, deviceCount: range.count,
                        importedAt: now),
                    authorities: [root, authority], vendor: vendorRecord, keys: keys, certificates: certificates,
                    devices: changes,
                    events: [
                        LifecycleEvent(
                            at: now, actor: "bench", action: .manifestImported, subject: .manifest(digest: digest))
                    ]))
            if range.upperBound % 1_000_000 == 0 { progress("    loaded \(range.upperBound) devices") }
        }
    }

    static func serial(_ index: Int) -> String { "DEV-\(index)" }

    /// A 64-hex-digit fingerprint per device, as a real SHA-256 fingerprint would be.
    static func fingerprintText(_ index: Int) -> String {
        String(format: "%016llx%016llx%016llx%016llx", UInt64(index), UInt64(index) &* 31, 7, 11)
    }
}
