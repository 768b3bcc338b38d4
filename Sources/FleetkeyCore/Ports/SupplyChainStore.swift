import Foundation

/// The registry's supply-chain side: finishing factory provisioning, owners, lots, and manifest imports.
///
/// Kept apart from ``RegistryStore`` so a store gains it as one capability, like ``RevocationStore``. Every write
/// is one transaction with optimistic checks on device state: it lands whole, or `.conflict` and nothing.
public protocol SupplyChainStore: Sendable {
    /// Moves one device (only from `change.expectedState`) and appends `events`, atomically. With `issuer`, the
    /// change completes an issuance (the factory line's last step) and is refused, like an issuance, once that CA's
    /// certificate or vendor has been revoked.
    func change(_ change: DeviceChange, events: [LifecycleEvent], issuer: IssuingAuthority?) async throws

    /// Records an owner. Fails with `.alreadyExists` if one of that name exists.
    func addOwner(_ owner: OwnerRecord, events: [LifecycleEvent]) async throws
    func owner(named name: String) async throws -> OwnerRecord?
    func owners() async throws -> [OwnerRecord]

    /// The devices holding any of these keys (fingerprints as in ``KeyRecord``): how clones are found.
    func devices(withKeys fingerprints: [String]) async throws -> [DeviceRecord]
    /// The devices with these identities that exist.
    func devices(ids: [DeviceID]) async throws -> [DeviceRecord]

    /// Every certificate of the devices of one vendor's lot, oldest first, in one read (a manifest's worth).
    func certificates(vendor: VendorName, lot: String) async throws -> [CertificateRecord]

    /// How many devices of the lot are in each state, per vendor (a lot name is unique per vendor only).
    func lotSummaries(lot: String) async throws -> [LotSummary]

    /// The import of the manifest with this SHA-256 (lower-case hex), if it was imported.
    func importedManifest(digest: String) async throws -> ImportedManifest?

    /// Records a verified manifest's devices in one transaction. Returns `false`, writing nothing, when a manifest
    /// with the same digest was imported before (importing twice is harmless).
    func importManifest(_ unit: ManifestImportUnit) async throws -> Bool
}

/// One lot of one vendor, counted by device state.
public struct LotSummary: Sendable, Hashable {
    public var vendor: VendorName
    public var lot: String
    public var createdAt: Date
    public var devicesByState: [DeviceState: Int]
    /// Owners its devices were shipped to, sorted.
    public var owners: [String]

    public init(vendor: VendorName, lot: String, createdAt: Date, devicesByState: [DeviceState: Int], owners: [String])
    {
        self.vendor = vendor
        self.lot = lot
        self.createdAt = createdAt
        self.devicesByState = devicesByState
        self.owners = owners
    }

    public var deviceCount: Int { devicesByState.values.reduce(0, +) }
}

/// A manifest that was imported: which one (by digest), whose lot, for whom, and when.
public struct ImportedManifest: Sendable, Hashable {
    /// Lower-case hex SHA-256 of the manifest file's bytes.
    public var digest: String
    public var vendor: VendorName
    public var lot: String
    public var owner: String
    public var deviceCount: Int
    public var importedAt: Date

    public init(digest: String, vendor: VendorName, lot: String, owner: String, deviceCount: Int, importedAt: Date) {
        self.digest = digest
        self.vendor = vendor
        self.lot = lot
        self.owner = owner
        self.deviceCount = deviceCount
        self.importedAt = importedAt
    }
}

/// Everything one manifest import writes, in one transaction.
///
/// Authorities, the vendor, keys and certificates are added when missing (an owner-side registry learns them from
/// the manifest; an ecosystem registry has them already). Devices are inserted (`expectedState == nil`) or moved
/// from the state the importer read.
public struct ManifestImportUnit: Sendable, Hashable {
    public var manifest: ImportedManifest
    public var authorities: [AuthorityRecord]
    public var vendor: VendorRecord
    public var keys: [KeyRecord]
    public var certificates: [CertificateRecord]
    public var devices: [DeviceChange]
    public var events: [LifecycleEvent]

    public init(
        manifest: ImportedManifest, authorities: [AuthorityRecord], vendor: VendorRecord, keys: [KeyRecord],
        certificates: [CertificateRecord], devices: [DeviceChange], events: [LifecycleEvent]
    ) {
        self.manifest = manifest
        self.authorities = authorities
        self.vendor = vendor
        self.keys = keys
        self.certificates = certificates
        self.devices = devices
        self.events = events
    }
}
