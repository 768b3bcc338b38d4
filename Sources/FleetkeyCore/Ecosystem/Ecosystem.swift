import Crypto
import Foundation
import SwiftASN1
import X509

/// The ecosystem's certificate authority operations: create the root, admit vendors, issue device identities.
///
/// This is where the rules meet the ports: it reads and writes only through ``RegistryStore`` and
/// ``KeyCustody`` and takes time and randomness from ``WallClock`` and ``RandomSource``. Every certificate it
/// makes is linted before signing and recorded before it is returned.
public struct Ecosystem: Sendable {
    public let policy: EcosystemPolicy
    public let store: any RegistryStore
    public let custody: any KeyCustody
    /// Where new CA keys (the root, vendor issuing CAs) are generated when not in ``custody``, such as a PKCS#11
    /// token; delegated OCSP-responder and manifest-signer keys stay in ``custody``. Signing always goes through
    /// ``custody``, which must therefore resolve every key reference the registry holds.
    public let caKeyCustody: (any KeyCustody)?
    public let clock: any WallClock
    public let actor: String
    let serials: SerialNumberGenerator
    let builder: DraftBuilder
    let lifecycle = DeviceLifecycle()

    /// How many times issuance draws a fresh serial when the store reports a collision.
    static let serialAttempts = 4

    public init(
        policy: EcosystemPolicy,
        store: any RegistryStore,
        custody: any KeyCustody,
        caKeyCustody: (any KeyCustody)? = nil,
        clock: any WallClock,
        random: any RandomSource,
        actor: String
    ) {
        self.policy = policy
        self.store = store
        self.custody = custody
        self.caKeyCustody = caKeyCustody
        self.clock = clock
        self.actor = actor
        self.serials = SerialNumberGenerator(random: random)
        self.builder = DraftBuilder(policy: policy)
    }

    // MARK: Root

    /// Creates the offline root: a key in custody and a self-signed certificate, recorded in the registry.
    public func createRoot(algorithm: KeySpec) async throws -> Certificate {
        let now = clock.now()
        let caCustody = caKeyCustody ?? custody
        let key = try await caCustody.generateKey(algorithm, label: "root")
        do {
            let subject = SubjectName([(.organization, policy.ecosystem), (.commonName, "\(policy.ecosystem) Root CA")])
            let draft = try builder.draft(
                .init(profileName: CertificateProfile.Name.root, subject: subject, publicKey: key.publicKey),
                issuer: nil, issuerKey: algorithm, serial: serials.next(), now: now)
            let signer = try await caCustody.signingKey(key.reference)
            let certificate = try CertificateAuthority.lintAndSign(
                draft, issuer: nil, key: signer, linter: ProfileLinter(policy: policy), now: now)
            let record = AuthorityRecord(
                id: "root", kind: .root, vendor: nil, certificateDER: try certificate.derBytes(),
                keyReference: key.reference, algorithm: algorithm, createdAt: now)
            let keyRecord = try keyRecord(key.publicKey, custody: caCustody.kind, location: key.reference, now: now)
            try await store.createRoot(
                record,
                certificate: try certificateRecord(
                    certificate, draft: draft, issuer: "root", key: keyRecord, device: nil, now: now),
                key: keyRecord,
                events: [
                    event(
                        .ecosystemCreated, subject: .authority("root"), to: "active", detail: ["name": policy.ecosystem]
                    ),
                    event(
                        .certificateIssued,
                        subject: .certificate(issuer: "root", serial: certificate.serialNumber.hexString),
                        detail: ["profile": draft.profileName]),
                ])
            return certificate
        } catch {
            try? await caCustody.destroyKey(key.reference)
            throw error
        }
    }

    /// The root CA, with its signing key from custody.
    public func rootAuthority() async throws -> CertificateAuthority {
        try await authority(id: "root")
    }

    // MARK: Vendors

    /// What admitting a vendor produced.
    public struct VendorSetup: Sendable {
        public var vendor: VendorRecord
        public var caCertificate: Certificate
        public var ocspResponderCertificate: Certificate
        public var manifestSignerCertificate: Certificate
    }

    /// Admits a vendor: an issuing CA under the root, name-constrained to `O=<name>`, and its delegated OCSP
    /// responder and manifest-signing certificates.
    public func addVendor(_ name: VendorName, algorithm: KeySpec) async throws -> VendorSetup {
        if try await store.vendor(named: name) != nil {
            throw FleetkeyError(.alreadyExists, "vendor '\(name)' already exists; see `fleetkey vendor list`")
        }
        let root = try await rootAuthority()
        let now = clock.now()
        let caCustody = caKeyCustody ?? custody
        var generated: [(custody: any KeyCustody, key: CustodiedKey)] = []
        do {
            let caKey = try await caCustody.generateKey(algorithm, label: name.authorityID)
            generated.append((caCustody, caKey))
            let caDraft = try builder.draft(
                .init(
                    profileName: CertificateProfile.Name.vendorCA,
                    subject: SubjectName([(.organization, name.value), (.commonName, "\(name.value) Issuing CA")]),
                    publicKey: caKey.publicKey, constrainToOrganization: name.value),
                issuer: root.info, issuerKey: root.keySpec, serial: serials.next(), now: now)
            let caCertificate = try root.issue(caDraft, now: now)
            let vendorCA = try CertificateAuthority(
                id: name.authorityID, certificate: caCertificate,
                signingKey: try await caCustody.signingKey(caKey.reference), policy: policy)

            var issued: [Issued] = [
                Issued(certificate: caCertificate, draft: caDraft, issuer: "root", key: caKey, custody: caCustody.kind)
            ]
            for (profile, role) in [
                (CertificateProfile.Name.ocspResponder, "OCSP Responder"),
                (CertificateProfile.Name.manifestSigner, "Manifest Signer"),
            ] {
                let key = try await custody.generateKey(algorithm, label: "\(name.authorityID)-\(profile)")
                generated.append((custody, key))
                issued.append(try delegated(profile, role: role, vendor: name, key: key, by: vendorCA, now: now))
            }

            let vendor = VendorRecord(name: name, authorityID: name.authorityID, state: .active, createdAt: now)
            let authority = AuthorityRecord(
                id: name.authorityID, kind: .vendor, vendor: name, certificateDER: try caCertificate.derBytes(),
                keyReference: caKey.reference, algorithm: algorithm, createdAt: now)
            var certificates: [CertificateRecord] = []
            var keys: [KeyRecord] = []
            var events = [event(.vendorAdmitted, subject: .vendor(name), to: VendorState.active.rawValue)]
            for item in issued {
                let keyRecord = try keyRecord(
                    item.key.publicKey, custody: item.custody, location: item.key.reference, now: now)
                keys.append(keyRecord)
                certificates.append(
                    try certificateRecord(
                        item.certificate, draft: item.draft, issuer: item.issuer, key: keyRecord, device: nil, now: now)
                )
                events.append(
                    event(
                        .certificateIssued,
                        subject: .certificate(issuer: item.issuer, serial: item.certificate.serialNumber.hexString),
                        detail: ["profile": item.draft.profileName, "vendor": name.value]))
            }
            try await store.addVendor(
                vendor, authority: authority, certificates: certificates, keys: keys, events: events)
            return VendorSetup(
                vendor: vendor, caCertificate: caCertificate, ocspResponderCertificate: issued[1].certificate,
                manifestSignerCertificate: issued[2].certificate)
        } catch {
            for (owner, key) in generated { try? await owner.destroyKey(key.reference) }
            throw error
        }
    }

    /// A certificate signed during vendor admission, with what its record needs.
    struct Issued {
        var certificate: Certificate
        var draft: CertificateDraft
        var issuer: String
        var key: CustodiedKey
        var custody: KeyCustodyKind
    }

    /// Signs a vendor's delegated certificate (its OCSP responder, its manifest signer) for a key in ``custody``.
    func delegated(
        _ profile: String, role: String, vendor: VendorName, key: CustodiedKey, by authority: CertificateAuthority,
        now: Date
    ) throws -> Issued {
        let draft = try builder.draft(
            .init(
                profileName: profile,
                subject: SubjectName([(.organization, vendor.value), (.commonName, "\(vendor.value) \(role)")]),
                publicKey: key.publicKey),
            issuer: authority.info, issuerKey: authority.keySpec, serial: serials.next(), now: now)
        return Issued(
            certificate: try authority.issue(draft, now: now), draft: draft, issuer: authority.id, key: key,
            custody: custody.kind)
    }

    /// A vendor's issuing CA with its signing key, refusing unknown or revoked vendors.
    public func vendorAuthority(_ name: VendorName) async throws -> CertificateAuthority {
        guard let vendor = try await store.vendor(named: name) else {
            let known = try await store.vendors().map(\.name.value)
            throw FleetkeyError(
                .notFound,
                "unknown vendor '\(name)'"
                    + (known.isEmpty
                        ? "; add one with `fleetkey vendor add NAME`"
                        : "; known vendors: \(known.joined(separator: ", "))"))
        }
        guard vendor.state == .active else {
            throw FleetkeyError(.invalidTransition, "vendor '\(name)' is \(vendor.state.rawValue) and cannot issue")
        }
        return try await authority(id: vendor.authorityID)
    }

    /// An authority (`root` or `vendor-<name>`) with its signing key from custody.
    public func authority(id: String) async throws -> CertificateAuthority {
        guard let record = try await store.authority(id: id) else {
            throw FleetkeyError(.notFound, "no certificate authority '\(id)' in the registry")
        }
        let certificate = try Certificate(derEncoded: record.certificateDER)
        return try CertificateAuthority(
            id: id, certificate: certificate, signingKey: try await custody.signingKey(record.keyReference),
            policy: policy)
    }

    /// A vendor's delegated signer for `profile` (its OCSP responder or manifest signer): of the unrevoked
    /// certificates the vendor CA issued under that profile, the one valid now with the latest notBefore (then
    /// issuedAt), with its key from custody.
    ///
    /// The registry lists certificates by serial, which is random: the newest is found by its dates, and one that
    /// has expired or is not yet valid is never chosen (RFC 6960 §4.2.2.2: a responder certificate must be valid
    /// when it signs).
    public func delegatedSigner(vendor: VendorName, profile: String, index: any RevocationStore) async throws
        -> (certificate: Certificate, key: Certificate.PrivateKey)
    {
        try await delegatedSigner(
            authorityID: vendor.authorityID, name: "vendor '\(vendor)'", profile: profile, index: index)
    }

    /// As ``delegatedSigner(vendor:profile:index:)``, for any authority (an owner's domain CA); `name` is how errors
    /// call it.
    public func delegatedSigner(authorityID: String, name: String, profile: String, index: any RevocationStore)
        async throws -> (certificate: Certificate, key: Certificate.PrivateKey)
    {
        let refs = try await index.certificateRefs(.issuer(authorityID))
            .filter { $0.profile == profile && $0.status == .valid }
        let now = clock.now()
        var newest: CertificateRecord?
        for ref in refs {
            guard let candidate = try await store.certificate(issuer: ref.issuer, serial: ref.serial),
                candidate.notBefore <= now, now < candidate.notAfter
            else { continue }
            if let best = newest, (candidate.notBefore, candidate.issuedAt) <= (best.notBefore, best.issuedAt) {
                continue
            }
            newest = candidate
        }
        guard let record = newest else {
            throw FleetkeyError(.notFound, "\(name) has no currently valid \(profile) certificate")
        }
        guard let key = try await index.keyRecord(fingerprint: record.keyFingerprint), let location = key.location
        else {
            throw FleetkeyError(
                .notFound, "the registry does not say where the key of the \(profile) certificate of \(name) is kept")
        }
        return (try Certificate(derEncoded: record.der), try await custody.signingKey(location))
    }

    // MARK: Device identities

    /// A request for a device identity certificate.
    public struct DeviceRequest: Sendable {
        /// The PKCS#10 request, PEM or DER.
        public var csr: [UInt8]
        public var profile: String
        /// A hardwareModuleName given outside the request (a flag), used when the request has none.
        public var hardwareModule: HardwareModuleName?
        public var lot: String?
        /// Where the device's private key lives, for the registry.
        public var keyCustody: KeyCustodyKind
        public var keyLocation: String?
        /// `true`: the device becomes provisioned with this issuance. `false` (the factory line): it is registered,
        /// still `generated`, and becomes provisioned only once the certificate is written into its locked secure
        /// element (``SupplyChainStore/change(_:events:)``).
        public var provisions: Bool

        public init(
            csr: [UInt8],
            profile: String = CertificateProfile.Name.deviceIdentity,
            hardwareModule: HardwareModuleName? = nil,
            lot: String? = nil,
            keyCustody: KeyCustodyKind = .external,
            keyLocation: String? = nil,
            provisions: Bool = true
        ) {
            self.provisions = provisions
            self.csr = csr
            self.profile = profile
            self.hardwareModule = hardwareModule
            self.lot = lot
            self.keyCustody = keyCustody
            self.keyLocation = keyLocation
        }
    }

    /// The outcome of an issuance: the certificate, already recorded, and the device it identifies.
    public struct IssuedCertificate: Sendable {
        public var certificate: Certificate
        public var record: CertificateRecord
        public var device: DeviceRecord
    }

    /// Issues a device identity: proof of possession, algorithm policy, subject and namespace checks,
    /// profile-built certificate, pre-issuance lint, signature, and the registry record, in that order.
    public func issueDeviceIdentity(_ request: DeviceRequest, by authority: CertificateAuthority) async throws
        -> IssuedCertificate
    {
        let csr = try policy.decodeRequest(request.csr, profile: request.profile, at: clock.now())
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw FleetkeyError(
                .proofOfPossessionFailed,
                "the request's signature does not verify with the public key it carries: the requester has not "
                    + "proved possession of the private key (RFC 2986 §3)")
        }
        let subject = try canonicalDeviceSubject(try SubjectName(csr.subject, field: "request subject"))
        let hardwareModule = try hardwareModuleName(csr, flag: request.hardwareModule)
        guard let organization = subject.values(.organization).first,
            let serialText = subject.values(.serialNumber).first
        else {
            throw FleetkeyError(
                .subjectRejected, "request subject must carry O=<vendor> and serialNumber=<device serial>")
        }
        guard let vendor = authority.vendorName, organization == vendor.value else {
            throw FleetkeyError(
                .subjectRejected,
                "request subject O=\(organization) is outside the namespace of vendor CA '\(authority.id)', which may "
                    + "only issue to O=\(authority.vendorName?.value ?? "?")")
        }
        let deviceID = DeviceID(vendor: vendor, serial: try DeviceSerial(serialText))
        let existing = try await store.device(deviceID)
        let fromState = existing?.state ?? .generated
        let toState: DeviceState
        if request.provisions {
            toState = try lifecycle.next(from: fromState, on: .provision)
        } else if let existing {
            throw FleetkeyError(
                .alreadyExists,
                "device \(deviceID) is already registered (\(existing.state.rawValue)); it is not issued twice")
        } else {
            toState = .generated
        }

        let now = clock.now()
        let keyRecord = try keyRecord(
            csr.publicKey, custody: request.keyCustody, location: request.keyLocation, now: now)
        for attempt in 1...Self.serialAttempts {
            let draft = try builder.draft(
                .init(
                    profileName: request.profile, subject: subject, publicKey: csr.publicKey,
                    hardwareModule: hardwareModule),
                issuer: authority.info, issuerKey: authority.keySpec, serial: serials.next(), now: now)
            let certificate = try authority.issue(draft, now: now)
            let record = try certificateRecord(
                certificate, draft: draft, issuer: authority.id, key: keyRecord, device: deviceID, now: now)
            let device = DeviceRecord(
                id: deviceID, state: toState, lot: request.lot ?? existing?.lot, keyFingerprint: keyRecord.fingerprint,
                hardwareModule: hardwareModule, createdAt: existing?.createdAt ?? now, updatedAt: now)
            var events: [LifecycleEvent] = []
            if existing == nil {
                events.append(
                    event(
                        .deviceRegistered, subject: .device(deviceID), to: DeviceState.generated.rawValue,
                        detail: ["key": keyRecord.fingerprint]))
            }
            events.append(
                event(
                    .certificateIssued, subject: .certificate(issuer: authority.id, serial: record.serial),
                    detail: ["profile": request.profile, "device": deviceID.description]))
            if request.provisions {
                events.append(
                    event(
                        .deviceProvisioned, subject: .device(deviceID), from: fromState.rawValue, to: toState.rawValue,
                        detail: ["certificate": record.serial]))
            }
            do {
                try await store.record(
                    IssuanceUnit(
                        issuer: authority.issuing, certificate: record, key: keyRecord,
                        device: DeviceChange(device: device, expectedState: existing?.state), events: events))
                return IssuedCertificate(certificate: certificate, record: record, device: device)
            } catch is DuplicateSerialError where attempt < Self.serialAttempts {
                continue
            }
        }
        throw FleetkeyError(.storage, "could not draw a unique serial number in \(Self.serialAttempts) attempts")
    }

    /// Orders a device subject as the profile writes it: O first (so the vendor CA's directoryName constraint,
    /// a prefix match, applies), then serialNumber, then the optional attributes.
    func canonicalDeviceSubject(_ subject: SubjectName) throws -> SubjectName {
        let order: [SubjectAttribute] = [.organization, .serialNumber, .organizationalUnit, .commonName, .country]
        return SubjectName(
            subject.attributes.sorted {
                (order.firstIndex(of: $0.0) ?? order.count) < (order.firstIndex(of: $1.0) ?? order.count)
            })
    }

    /// The hardwareModuleName of the request's subjectAltName, or the one given by flag; refuses any other SAN.
    func hardwareModuleName(_ csr: CertificateSigningRequest, flag: HardwareModuleName?) throws -> HardwareModuleName? {
        var fromRequest: HardwareModuleName?
        let requested: Certificate.Extensions?
        do {
            requested = try csr.attributes.extensionRequest?.extensions
        } catch {
            throw FleetkeyError(.malformedInput, "the request's extensionRequest attribute is not valid DER: \(error)")
        }
        if let extensions = requested {
            for ext in extensions {
                guard ext.oid == .X509ExtensionID.subjectAlternativeName else { continue }
                let names: SubjectAlternativeNames
                do {
                    names = try SubjectAlternativeNames(ext)
                } catch {
                    throw FleetkeyError(
                        .malformedInput,
                        "the request's extensionRequest subjectAltName is not valid DER (RFC 5280 §4.2.1.6): \(error)")
                }
                for name in names {
                    let decoded: HardwareModuleName?
                    do {
                        decoded = try HardwareModuleName(name)
                    } catch {
                        throw FleetkeyError(
                            .malformedInput,
                            "the request's subjectAltName hardwareModuleName is not valid DER (RFC 4108 §5): \(error)")
                    }
                    guard let hardware = decoded else {
                        throw FleetkeyError(
                            .subjectRejected,
                            "request subjectAltName \(name) is not allowed: device identities carry only a "
                                + "hardwareModuleName (RFC 4108)")
                    }
                    fromRequest = hardware
                }
            }
        }
        if let flag, let fromRequest, flag != fromRequest {
            throw FleetkeyError(
                .subjectRejected,
                "the request's hardwareModuleName (\(fromRequest.serialText)) differs from the one given (\(flag.serialText))"
            )
        }
        return fromRequest ?? flag
    }

    // MARK: Records

    func keyRecord(_ key: Certificate.PublicKey, custody: KeyCustodyKind, location: String?, now: Date) throws
        -> KeyRecord
    {
        let spki = key.subjectPublicKeyInfoDER
        return KeyRecord(
            fingerprint: KeyRecord.fingerprint(ofSubjectPublicKeyInfo: spki), subjectPublicKeyInfo: spki,
            algorithm: try KeySpec(key), custody: custody, location: location, createdAt: now)
    }

    func certificateRecord(
        _ certificate: Certificate, draft: CertificateDraft, issuer: String, key: KeyRecord, device: DeviceID?,
        now: Date
    ) throws -> CertificateRecord {
        CertificateRecord(
            issuer: issuer, serial: certificate.serialNumber.hexString, profile: draft.profileName,
            subject: certificate.subject.description, notBefore: certificate.notValidBefore,
            notAfter: certificate.notValidAfter, keyFingerprint: key.fingerprint, device: device,
            der: try certificate.derBytes(), status: .valid, issuedAt: now, crlScope: draft.crlScope)
    }

    func event(
        _ action: EventAction, subject: EventSubject, from: String? = nil, to: String? = nil,
        detail: [String: String] = [:]
    ) -> LifecycleEvent {
        LifecycleEvent(
            at: clock.now(), actor: actor, action: action, subject: subject, fromState: from, toState: to,
            detail: detail)
    }
}

extension CertificateAuthority {
    /// The vendor this CA issues for, read from its name constraints.
    public var vendorName: VendorName? {
        guard let base = info.permittedSubtrees.first, let rdn = base.first, let attribute = rdn.first,
            attribute.type == .RDNAttributeType.organizationName, let text = String(attribute.value)
        else { return nil }
        return try? VendorName(text)
    }
}

extension CertificateAuthority {
    /// This CA as an issuance re-checks it in the registry: its own certificate (issued by the root, or by itself
    /// for the root) must still be valid, and its vendor, if it has one, still active.
    public var issuing: IssuingAuthority {
        let selfSigned = certificate.subject == certificate.issuer
        return IssuingAuthority(
            id: id, vendor: vendorName,
            certificate: .init(issuer: selfSigned ? id : "root", serial: certificate.serialNumber.hexString))
    }
}
