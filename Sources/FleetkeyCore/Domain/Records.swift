import Crypto
import Foundation

/// Which kind of certificate authority a record describes.
public enum AuthorityKind: String, Sendable, Codable, Hashable, CaseIterable {
    case root
    case vendor
    /// An owner's domain CA (`fleetkey owner ca create`): it issues the owner's operational device identities.
    case owner
}

/// A certificate authority known to the registry: its certificate and where its key lives.
///
/// `keyReference` names the key in custody (for example `keystore:root`); the private key itself is
/// never part of a record.
public struct AuthorityRecord: Hashable, Sendable {
    public var id: String
    public var kind: AuthorityKind
    public var vendor: VendorName?
    public var certificateDER: [UInt8]
    public var keyReference: String
    public var algorithm: KeySpec
    public var createdAt: Date

    public init(
        id: String,
        kind: AuthorityKind,
        vendor: VendorName?,
        certificateDER: [UInt8],
        keyReference: String,
        algorithm: KeySpec,
        createdAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.vendor = vendor
        self.certificateDER = certificateDER
        self.keyReference = keyReference
        self.algorithm = algorithm
        self.createdAt = createdAt
    }
}

/// Whether a vendor may still issue.
public enum VendorState: String, Sendable, Codable, Hashable, CaseIterable {
    case active
    case revoked
}

/// A manufacturer admitted to the ecosystem, with its issuing CA.
public struct VendorRecord: Hashable, Sendable {
    public var name: VendorName
    public var authorityID: String
    public var state: VendorState
    public var createdAt: Date

    public init(name: VendorName, authorityID: String, state: VendorState, createdAt: Date) {
        self.name = name
        self.authorityID = authorityID
        self.state = state
        self.createdAt = createdAt
    }
}

/// Where a private key lives. The registry records this so an auditor can answer "which key is where".
public enum KeyCustodyKind: String, Sendable, Codable, Hashable, CaseIterable {
    /// Generated outside Fleetkey; only the public key and a proof of possession (the CSR) were seen.
    case external
    /// In Fleetkey's encrypted software keystore.
    case softwareKeystore = "software-keystore"
    /// Inside a PKCS#11 token (HSM, TPM, secure element).
    case pkcs11
    /// Inside a device's secure element.
    case secureElement = "secure-element"
}

/// The public half of a key and where its private half is kept.
public struct KeyRecord: Hashable, Sendable {
    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo: the key's identity in the registry.
    public var fingerprint: String
    public var subjectPublicKeyInfo: [UInt8]
    public var algorithm: KeySpec
    public var custody: KeyCustodyKind
    /// A custody-specific locator (keystore reference, PKCS#11 URI, element id); never key material.
    public var location: String?
    /// When the registry first learned the key (a key seen again keeps its first time).
    public var createdAt: Date

    public init(
        fingerprint: String,
        subjectPublicKeyInfo: [UInt8],
        algorithm: KeySpec,
        custody: KeyCustodyKind,
        location: String?,
        createdAt: Date
    ) {
        self.fingerprint = fingerprint
        self.subjectPublicKeyInfo = subjectPublicKeyInfo
        self.algorithm = algorithm
        self.custody = custody
        self.location = location
        self.createdAt = createdAt
    }

    /// The registry's identity of a public key: lower-case hex SHA-256 of its DER SubjectPublicKeyInfo. The one
    /// place it is computed, so a clone found by one path is found by every other.
    public static func fingerprint(ofSubjectPublicKeyInfo spki: [UInt8]) -> String {
        Hex.lower(SHA256.hash(data: spki))
    }
}

/// The status of a certificate in the registry.
public enum CertificateStatus: String, Sendable, Codable, Hashable, CaseIterable {
    case valid
    case revoked
}

/// A certificate Fleetkey issued, as recorded before it left the process.
public struct CertificateRecord: Hashable, Sendable {
    /// The issuing authority's identifier (`root`, `vendor-acme`).
    public var issuer: String
    /// Upper-case hex of the serial number's DER content octets.
    public var serial: String
    public var profile: String
    public var subject: String
    public var notBefore: Date
    public var notAfter: Date
    public var keyFingerprint: String
    public var device: DeviceID?
    public var der: [UInt8]
    public var status: CertificateStatus
    public var issuedAt: Date
    /// When, why and since when a revoked certificate was revoked; `nil` while it is valid.
    public var revocation: RevocationInfo?
    /// Which of its issuer's CRLs its cRLDistributionPoint names, fixed at issuance; `nil` when it names none.
    /// CRLs are published by this recorded scope, never recomputed from today's policy.
    public var crlScope: CRLScope?

    public init(
        issuer: String,
        serial: String,
        profile: String,
        subject: String,
        notBefore: Date,
        notAfter: Date,
        keyFingerprint: String,
        device: DeviceID?,
        der: [UInt8],
        status: CertificateStatus,
        issuedAt: Date,
        revocation: RevocationInfo? = nil,
        crlScope: CRLScope?
    ) {
        self.issuer = issuer
        self.serial = serial
        self.profile = profile
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.keyFingerprint = keyFingerprint
        self.device = device
        self.der = der
        self.status = status
        self.issuedAt = issuedAt
        self.revocation = revocation
        self.crlScope = crlScope
    }
}

/// A device in the registry: which key it holds and where it is in its lifecycle.
public struct DeviceRecord: Hashable, Sendable {
    public var id: DeviceID
    public var state: DeviceState
    public var lot: String?
    public var keyFingerprint: String
    public var hardwareModule: HardwareModuleName?
    /// The secure element's attestation of the identity key, taken at the factory once the slot was locked; the
    /// element is the one ``hardwareModule`` names.
    public var attestation: FactoryAttestation?
    /// The owner the device was shipped to (a supply-chain manifest import); `nil` while it is the vendor's.
    public var owner: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: DeviceID,
        state: DeviceState,
        lot: String?,
        keyFingerprint: String,
        hardwareModule: HardwareModuleName?,
        attestation: FactoryAttestation? = nil,
        owner: String? = nil,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.state = state
        self.lot = lot
        self.keyFingerprint = keyFingerprint
        self.hardwareModule = hardwareModule
        self.attestation = attestation
        self.owner = owner
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One entry of the append-only event log: who did what to which thing, and the state it moved between.
public struct LifecycleEvent: Hashable, Sendable {
    /// Assigned by the store on append; `nil` before.
    public var sequence: Int64?
    public var at: Date
    public var actor: String
    public var action: EventAction
    public var subject: EventSubject
    public var fromState: String?
    public var toState: String?
    /// Non-secret facts worth keeping (serial, profile, reason).
    public var detail: [String: String]

    public init(
        sequence: Int64? = nil,
        at: Date,
        actor: String,
        action: EventAction,
        subject: EventSubject,
        fromState: String? = nil,
        toState: String? = nil,
        detail: [String: String] = [:]
    ) {
        self.sequence = sequence
        self.at = at
        self.actor = actor
        self.action = action
        self.subject = subject
        self.fromState = fromState
        self.toState = toState
        self.detail = detail
    }
}

/// What a secure element said about a device's identity key at the factory, and the key that said it.
public struct FactoryAttestation: Hashable, Sendable {
    /// The DER ``KeyAttestation``.
    public var statement: [UInt8]
    /// The DER SubjectPublicKeyInfo of the element's attestation key. The registry (or a manifest, signed by the
    /// vendor) vouches for it; the statement's signature is checked against it.
    public var attestationKey: [UInt8]

    public init(statement: [UInt8], attestationKey: [UInt8]) {
        self.statement = statement
        self.attestationKey = attestationKey
    }
}

/// Somebody who buys devices and runs them: the party a supply-chain manifest ships a lot to.
public struct OwnerRecord: Hashable, Sendable {
    public var name: String
    public var createdAt: Date

    public init(name: String, createdAt: Date) {
        self.name = name
        self.createdAt = createdAt
    }
}
