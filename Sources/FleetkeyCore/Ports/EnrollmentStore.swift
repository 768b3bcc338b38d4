import Foundation

/// The registry's enrollment side: an owner's domain CA, the operational identities it issues over EST, and the
/// record of every EST request it refused.
///
/// Kept apart from ``RegistryStore`` so a store gains it as one capability, like ``RevocationStore``. Every write is
/// one transaction: it lands whole, or fails and writes nothing.
public protocol EnrollmentStore: Sendable {
    /// Records an authority that is not the root (an owner's domain CA) with the certificates and keys issued with
    /// it. Fails with `.alreadyExists` when an authority of that id exists.
    func addAuthority(
        _ authority: AuthorityRecord, certificates: [CertificateRecord], keys: [KeyRecord], events: [LifecycleEvent]
    ) async throws
    /// Records one enrollment: the issuance (its CA re-checked inside the transaction, the device moved only from
    /// the state the enrollment read), the certificates it supersedes revoked, and its events.
    func enroll(_ unit: EnrollmentUnit) async throws
    /// Appends events that change nothing else: refused and pending EST requests.
    func append(_ events: [LifecycleEvent]) async throws
}

/// Everything one EST enrollment writes, in one transaction.
public struct EnrollmentUnit: Sendable, Hashable {
    public var issuance: IssuanceUnit
    /// When `true`, the unit is refused if the registry already knows the key: a new key is certified once, ever.
    public var requiresNewKey: Bool
    /// Certificates the new one replaces (a device's previous LDevID), revoked as superseded (RFC 5280 §5.3.1) at
    /// the issuance's time; each must still be valid.
    public var supersedes: [RevocationUnit.CertificateKey]

    public init(issuance: IssuanceUnit, requiresNewKey: Bool, supersedes: [RevocationUnit.CertificateKey]) {
        self.issuance = issuance
        self.requiresNewKey = requiresNewKey
        self.supersedes = supersedes
    }
}

/// A registry that can run EST enrollment: devices, their certificates and keys, revocation status, and the
/// enrollment records.
public typealias EnrollmentRegistry = RegistryStore & SupplyChainStore & RevocationStore & EnrollmentStore

extension FleetkeyError {
    /// What a store says when an enrollment's key was certified by another writer first.
    public static let keyCertifiedMeanwhile = FleetkeyError(
        .conflict,
        "the request's key was certified by another enrollment first: a key is certified once; nothing was recorded")
}
