import Foundation

/// The registry: vendors, authorities, devices, keys, certificates and the append-only event log.
///
/// One protocol, several real implementations (SQLite embedded, PostgreSQL for scale-out). Every method that
/// writes is one unit of work: all of it lands, or none of it does. Uniqueness that security depends on
/// (serial per issuer, device per vendor) is enforced by the store's constraints, not by the caller.
public protocol RegistryStore: Sendable {
    /// Records the root authority and its first events. Fails with `.alreadyExists` if the registry has one.
    func createRoot(_ root: AuthorityRecord, certificate: CertificateRecord, key: KeyRecord, events: [LifecycleEvent])
        async throws

    /// Records a vendor, its issuing CA and the certificates issued with it (CA, OCSP responder, manifest signer).
    func addVendor(
        _ vendor: VendorRecord,
        authority: AuthorityRecord,
        certificates: [CertificateRecord],
        keys: [KeyRecord],
        events: [LifecycleEvent]
    ) async throws

    func authority(id: String) async throws -> AuthorityRecord?
    func vendor(named name: VendorName) async throws -> VendorRecord?
    func vendors() async throws -> [VendorRecord]

    /// Records one issuance atomically: key, device change, certificate and events.
    ///
    /// Throws ``DuplicateSerialError`` when the issuer already has a certificate with that serial, and
    /// `.conflict` when the device is not in the state `issuance.device.expectedState` says.
    func record(_ issuance: IssuanceUnit) async throws

    func certificate(issuer: String, serial: String) async throws -> CertificateRecord?
    /// Every certificate with this serial, whatever its issuer (serials are unique per issuer only).
    func certificates(serial: String) async throws -> [CertificateRecord]
    func certificateCount(issuer: String?) async throws -> Int
    /// The certificates issued for a device, oldest first.
    func certificates(forDevice device: DeviceID) async throws -> [CertificateRecord]

    func device(_ id: DeviceID) async throws -> DeviceRecord?
    /// Devices by serial alone, across vendors.
    func devices(serial: DeviceSerial) async throws -> [DeviceRecord]
    func devices(matching filter: DeviceFilter) async throws -> [DeviceRecord]

    /// Events in append order, optionally only those about one subject (a device's history).
    func events(subject: EventSubject?, limit: Int?) async throws -> [LifecycleEvent]
}

/// Which devices a listing returns.
public struct DeviceFilter: Sendable, Hashable {
    public var vendor: VendorName?
    public var state: DeviceState?
    public var lot: String?
    public var limit: Int?

    public init(vendor: VendorName? = nil, state: DeviceState? = nil, lot: String? = nil, limit: Int? = nil) {
        self.vendor = vendor
        self.state = state
        self.lot = lot
        self.limit = limit
    }
}

/// A device row to write, with the state the writer read it in (optimistic concurrency).
public struct DeviceChange: Sendable, Hashable {
    public var device: DeviceRecord
    /// The state the device must be in for the change to apply; `nil` means it must not exist yet.
    public var expectedState: DeviceState?

    public init(device: DeviceRecord, expectedState: DeviceState?) {
        self.device = device
        self.expectedState = expectedState
    }
}

/// Everything one issuance writes, in one transaction.
public struct IssuanceUnit: Sendable, Hashable {
    /// The CA that signed, checked in the same transaction: the unit is refused if it was revoked meanwhile.
    public var issuer: IssuingAuthority
    public var certificate: CertificateRecord
    public var key: KeyRecord
    public var device: DeviceChange?
    public var events: [LifecycleEvent]

    public init(
        issuer: IssuingAuthority, certificate: CertificateRecord, key: KeyRecord, device: DeviceChange?,
        events: [LifecycleEvent]
    ) {
        self.issuer = issuer
        self.certificate = certificate
        self.key = key
        self.device = device
        self.events = events
    }
}

/// The issuing CA of an issuance, as the store re-checks it inside the issuance's transaction.
///
/// A factory run, a batch or a server loads its CA once; revoking the vendor or the CA's certificate later must
/// still stop it. So every issuance asks the store, in the transaction that records it, that the CA's own
/// certificate is still valid and, for a vendor CA, that the vendor is still active; on PostgreSQL those rows are
/// read `FOR SHARE`, so a revocation either commits first (and the issuance is refused) or waits for it.
public struct IssuingAuthority: Sendable, Hashable {
    /// The authority's identifier (`vendor-acme`).
    public var id: String
    /// The vendor whose CA it is; `nil` for the root.
    public var vendor: VendorName?
    /// The CA's own certificate as the registry records it: its issuer (`root`) and serial.
    public var certificate: RevocationUnit.CertificateKey

    public init(id: String, vendor: VendorName?, certificate: RevocationUnit.CertificateKey) {
        self.id = id
        self.vendor = vendor
        self.certificate = certificate
    }
}

/// The issuer already has a certificate with this serial; the caller draws a new serial and signs again.
public struct DuplicateSerialError: Error, Sendable, Hashable {
    public var issuer: String
    public var serial: String

    public init(issuer: String, serial: String) {
        self.issuer = issuer
        self.serial = serial
    }
}

extension FleetkeyError {
    /// What a store says when an issuance's vendor was revoked after its CA was loaded.
    public static func vendorNoLongerActive(_ vendor: VendorName) -> FleetkeyError {
        FleetkeyError(
            .invalidTransition,
            "vendor '\(vendor)' has been revoked and its CA may no longer issue; nothing was recorded or handed out")
    }

    /// What a store says when an issuance's CA certificate was revoked after the CA was loaded.
    public static func issuerCertificateRevoked(_ authority: String) -> FleetkeyError {
        FleetkeyError(
            .invalidTransition,
            "the certificate of CA '\(authority)' is revoked (or no longer in the registry), so it may no longer "
                + "issue; nothing was recorded or handed out")
    }

    /// What a store says when a device is not in the state the writer read.
    public static func deviceChanged(_ device: DeviceID, expected: DeviceState) -> FleetkeyError {
        FleetkeyError(
            .conflict,
            "device \(device) is no longer \(expected.rawValue): another process changed it first; re-read and retry")
    }

    /// What a store says when a new device was registered by another writer first.
    public static func deviceRegisteredFirst(_ device: DeviceID) -> FleetkeyError {
        FleetkeyError(.conflict, "device \(device) was registered by another process first; re-read and retry")
    }

    /// What a store says when a certificate of a revocation was revoked by another writer meanwhile.
    public static let revokedMeanwhile = FleetkeyError(
        .conflict, "a certificate of this revocation was revoked by another process first; re-read and retry")

    /// What a store says when a device of a revocation changed state in another writer meanwhile.
    public static let movedMeanwhile = FleetkeyError(
        .conflict, "a device of this revocation changed state in another process first; re-read and retry")

    /// What a store says when a device of a bulk unit (a manifest import) was registered, or its key taken, by
    /// another writer first.
    public static let registeredMeanwhile = FleetkeyError(
        .conflict,
        "a device of this unit was registered, or its key taken, by another process first; nothing was recorded; "
            + "re-read and retry")

    /// What a store says when a device would take a key another device holds: one key, one device, ever (a second
    /// device presenting it is a clone; a revoked key is never certified again).
    public static func keyHeldByAnotherDevice(_ device: DeviceRecord) -> FleetkeyError {
        FleetkeyError(
            .conflict,
            "the key of device \(device.id) (sha256:\(device.keyFingerprint.prefix(16))…) is already held by another "
                + "device: a cloned or reused key is never certified twice; nothing was recorded")
    }
}
