import FleetkeyCore
import Foundation

/// Large registries built through a store's own bulk path: devices shipped to an owner in manifest imports of
/// ``unitSize`` devices each. For store tests at fleet sizes and for the benchmark's lookup workloads.
///
/// Each device (`<prefix>-<n>` of `vendor`, in `lot`) has its own key and a certificate row under the vendor's CA with
/// its own serial and the complete CRL as its scope. The certificate bytes are a placeholder: a store keeps what it is
/// given and never parses it, and nothing signs it, so such a registry serves store tests, not relying parties.
public struct SyntheticFleet: Sendable {
    public var vendor: VendorName
    public var lot: String
    public var prefix: String
    public var owner: String
    public static let unitSize = 10_000

    public init(vendor: VendorName, lot: String, prefix: String = "DEV", owner: String = "Fleet Owner") {
        self.vendor = vendor
        self.lot = lot
        self.prefix = prefix
        self.owner = owner
    }

    public func serial(_ index: Int) -> String { "\(prefix)-\(index)" }

    /// A 64-hex-digit fingerprint per device of this fleet, as a real SHA-256 fingerprint would be.
    public func fingerprint(_ index: Int) -> String {
        String(format: "%016llx%016llx%016llx%016llx", UInt64(index), UInt64(index) &* 31, salt, 11)
    }

    /// The certificate serial of a device of this fleet (upper-case hex), distinct across fleets of other prefixes.
    public func certificateSerial(_ index: Int) -> String {
        String(format: "4%07llX%016llX", salt & 0xFFF_FFFF, UInt64(index))
    }

    private var salt: UInt64 { prefix.utf8.reduce(UInt64(5381)) { $0 &* 33 &+ UInt64($1) } }

    /// Loads `count` devices into `store`, which must already hold the vendor (and the root), in imports of
    /// `unitSize` devices, each one transaction.
    public func load(
        into store: any RegistryStore & SupplyChainStore, count: Int, unitSize: Int = SyntheticFleet.unitSize,
        at now: Date, progress: @Sendable (Int) -> Void = { _ in }
    ) async throws {
        guard let vendorRecord = try await store.vendor(named: vendor),
            let authority = try await store.authority(id: vendorRecord.authorityID),
            let root = try await store.authority(id: "root")
        else {
            throw FleetkeyError(.notFound, "a synthetic fleet needs vendor '\(vendor)' and the root in the registry")
        }
        if try await store.owner(named: owner) == nil {
            try await store.addOwner(OwnerRecord(name: owner, createdAt: now), events: [])
        }
        let spki = [UInt8](repeating: 0x04, count: 91)
        for start in stride(from: 0, to: count, by: unitSize) {
            let range = start..<min(count, start + unitSize)
            var keys: [KeyRecord] = []
            var certificates: [CertificateRecord] = []
            var changes: [DeviceChange] = []
            keys.reserveCapacity(range.count)
            certificates.reserveCapacity(range.count)
            changes.reserveCapacity(range.count)
            for index in range {
                let fingerprint = fingerprint(index)
                let id = DeviceID(vendor: vendor, serial: try DeviceSerial(serial(index)))
                keys.append(
                    KeyRecord(
                        fingerprint: fingerprint, subjectPublicKeyInfo: spki, algorithm: .p256, custody: .secureElement,
                        location: nil, createdAt: now))
                certificates.append(
                    CertificateRecord(
                        issuer: authority.id, serial: certificateSerial(index),
                        profile: CertificateProfile.Name.deviceIdentity,
                        subject: "O=\(vendor),serialNumber=\(serial(index))", notBefore: now,
                        notAfter: now.addingTimeInterval(86_400 * 365), keyFingerprint: fingerprint, device: id,
                        der: [0x30, 0x00], status: .valid, issuedAt: now, crlScope: .complete))
                changes.append(
                    DeviceChange(
                        device: DeviceRecord(
                            id: id, state: .shipped, lot: lot, keyFingerprint: fingerprint, hardwareModule: nil,
                            owner: owner, createdAt: now, updatedAt: now),
                        expectedState: nil))
            }
            let digest = String(format: "%032llx", UInt64(start)) + fingerprint(start).prefix(32)
            _ = try await store.importManifest(
                ManifestImportUnit(
                    manifest: ImportedManifest(
                        digest: digest, vendor: vendor, lot: lot, owner: owner, deviceCount: range.count,
                        importedAt: now),
                    authorities: [root, authority], vendor: vendorRecord, keys: keys, certificates: certificates,
                    devices: changes,
                    events: [
                        LifecycleEvent(
                            at: now, actor: "synthetic-fleet", action: .manifestImported,
                            subject: .manifest(digest: digest))
                    ]))
            progress(range.upperBound)
        }
    }
}
