import Foundation

/// The registry's revocation side: selecting certificates, recording revocations, and publishing CRLs.
///
/// Kept apart from ``RegistryStore`` so a store gains it as one capability. A revocation is one transaction that
/// reads what it covers and writes what the core planned from that read (``revoke(_:plan:)``), so no issuance can
/// slip between the two; its writes still check what they change (a certificate is revoked only if valid, a
/// device moves only from the state the plan saw), and fail with `.conflict`, writing nothing, otherwise.
public protocol RevocationStore: Sendable {
    /// The certificates `scope` selects, without their DER, with the state of the device each identifies.
    func certificateRefs(_ scope: CertificateScope) async throws -> [CertificateRef]

    /// Revokes in one unit of work: reads what `selection` covers, asks `plan` (pure, in the core) what to write,
    /// and writes that, all in one transaction. When the selection names a vendor, the vendor's row is locked
    /// first, so issuance under it waits for this transaction and then sees the vendor revoked. If `plan` throws,
    /// nothing is written. Returns the unit written.
    func revoke(
        _ selection: RevocationSelection, plan: @escaping @Sendable (RevocationSnapshot) throws -> RevocationUnit
    )
        async throws -> RevocationUnit

    /// Every revoked certificate of `issuer`, as CRL entries with the CRL scope recorded at issuance, by serial.
    func revokedEntries(issuer: String) async throws -> [ScopedRevokedCertificate]

    /// The CRL scopes that unexpired certificates of `issuer` name in their cRLDistributionPoint: each of these CRLs
    /// must keep being published, whatever today's partition count is.
    func crlScopes(issuer: String, unexpiredAt: Date) async throws -> [CRLScope]

    /// The newest CRL published for one of an issuer's CRL scopes.
    func latestCRL(issuer: String, scope: CRLScope) async throws -> PublishedCRL?

    /// Stores `crl` unless a CRL with the same or a higher number is already stored (then returns `false`),
    /// so CRL numbers only ever increase (RFC 5280 §5.2.3), whatever crashes or races happen.
    func publish(_ crl: PublishedCRL) async throws -> Bool

    /// Revocations recorded after event `sequence`, oldest first: how a running server learns of revocations
    /// made by other processes.
    func revocations(after sequence: Int64, limit: Int) async throws -> [RevocationNotice]

    /// The sequence number of the newest event, 0 when there is none.
    func lastEventSequence() async throws -> Int64

    /// A key by fingerprint: where a status signer's key (an OCSP responder's) is kept.
    func keyRecord(fingerprint: String) async throws -> KeyRecord?
}

/// What one revocation reads: the certificates of one or more scopes, and the vendor it revokes, locked.
public struct RevocationSelection: Sendable, Hashable {
    public var scopes: [CertificateScope]
    /// The vendor whose issuing CA this revocation ends; its row is locked before anything is read.
    public var vendor: VendorName?

    public init(scopes: [CertificateScope], vendor: VendorName?) {
        self.scopes = scopes
        self.vendor = vendor
    }
}

/// What a revocation plan is made from, read inside the revocation's transaction.
public struct RevocationSnapshot: Sendable, Hashable {
    /// The selected certificates, each once, ordered by issuer then serial.
    public var certificates: [CertificateRef]
    /// The selection's vendor, as recorded; `nil` when the selection names none or the vendor is unknown.
    public var vendor: VendorRecord?

    public init(certificates: [CertificateRef], vendor: VendorRecord?) {
        self.certificates = certificates
        self.vendor = vendor
    }
}

/// A CRL entry and the CRL scope its certificate names.
public struct ScopedRevokedCertificate: Sendable, Hashable {
    public var entry: RevokedCertificate
    /// `nil` for a certificate without a cRLDistributionPoint (a delegated OCSP responder): only the complete CRL
    /// lists it.
    public var scope: CRLScope?

    public init(entry: RevokedCertificate, scope: CRLScope?) {
        self.entry = entry
        self.scope = scope
    }
}

/// Which certificates a revocation or a status query is about.
public enum CertificateScope: Sendable, Hashable {
    /// One certificate; with `issuer` nil, any issuer's certificate with that serial (upper-case hex).
    case certificate(issuer: String?, serial: String)
    /// Every certificate identifying this device.
    case device(DeviceID)
    /// Every certificate of devices with this serial, whatever their vendor.
    case deviceSerial(DeviceSerial)
    /// Every certificate of the devices of a lot (of one vendor, or of any vendor with that lot name).
    case lot(vendor: VendorName?, name: String)
    /// Every certificate an authority issued.
    case issuer(String)
}

/// A certificate as revocation sees it: identity, status and its device's state; no DER.
public struct CertificateRef: Hashable, Sendable {
    public var issuer: String
    public var serial: String
    public var profile: String
    public var device: DeviceID?
    public var deviceState: DeviceState?
    public var status: CertificateStatus
    public var revocation: RevocationInfo?

    public init(
        issuer: String, serial: String, profile: String, device: DeviceID?, deviceState: DeviceState?,
        status: CertificateStatus, revocation: RevocationInfo?
    ) {
        self.issuer = issuer
        self.serial = serial
        self.profile = profile
        self.device = device
        self.deviceState = deviceState
        self.status = status
        self.revocation = revocation
    }
}

/// Everything one revocation writes, in one transaction.
public struct RevocationUnit: Sendable, Hashable {
    public struct CertificateKey: Sendable, Hashable {
        public var issuer: String
        public var serial: String
        public init(issuer: String, serial: String) {
            self.issuer = issuer
            self.serial = serial
        }
    }

    public struct DeviceTransition: Sendable, Hashable {
        public var device: DeviceID
        public var from: DeviceState
        public var to: DeviceState
        public init(device: DeviceID, from: DeviceState, to: DeviceState) {
            self.device = device
            self.from = from
            self.to = to
        }
    }

    public var certificates: [CertificateKey]
    public var info: RevocationInfo
    public var devices: [DeviceTransition]
    /// A vendor whose issuing CA is revoked with this unit; it may no longer issue.
    public var vendor: VendorName?
    public var events: [LifecycleEvent]

    public init(
        certificates: [CertificateKey], info: RevocationInfo, devices: [DeviceTransition], vendor: VendorName?,
        events: [LifecycleEvent]
    ) {
        self.certificates = certificates
        self.info = info
        self.devices = devices
        self.vendor = vendor
        self.events = events
    }
}

/// A CRL as published: DER, number and validity, for one of an issuer's CRL scopes.
public struct PublishedCRL: Sendable, Hashable {
    public var issuer: String
    public var scope: CRLScope
    public var number: Int64
    public var thisUpdate: Date
    public var nextUpdate: Date
    public var der: [UInt8]

    public init(issuer: String, scope: CRLScope, number: Int64, thisUpdate: Date, nextUpdate: Date, der: [UInt8]) {
        self.issuer = issuer
        self.scope = scope
        self.number = number
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.der = der
    }
}

/// One revocation another process recorded: which certificate, at which event.
public struct RevocationNotice: Sendable, Hashable {
    public var sequence: Int64
    public var issuer: String
    public var serial: String

    public init(sequence: Int64, issuer: String, serial: String) {
        self.sequence = sequence
        self.issuer = issuer
        self.serial = serial
    }

    /// Reads a `certificate.revoked` event's subject, `certificate:<issuer>/<serial>`, as ``Revoker`` writes it.
    public init(sequence: Int64, eventSubject subject: String) throws(FleetkeyError) {
        guard case .certificate(let issuer, let serial) = try EventSubject(parsing: subject) else {
            throw FleetkeyError(
                .storage,
                "event \(sequence) is a certificate revocation about '\(subject.prefix(120))', not a certificate")
        }
        self.init(sequence: sequence, issuer: issuer, serial: serial)
    }
}
