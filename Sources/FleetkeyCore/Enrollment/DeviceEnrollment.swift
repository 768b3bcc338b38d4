import Foundation
import SwiftASN1
import X509

/// Zero-touch commissioning over EST (RFC 7030): the rules an owner's server applies to `/simpleenroll` and
/// `/simplereenroll`, and the one transaction each success writes.
///
/// A first enrollment is made with the device's factory identity (IDevID, IEEE 802.1AR), which the TLS handshake
/// proved the device holds. It is checked in this order, and the first rule that fails refuses it
/// (``EnrollmentRefusal``): the certificate chains to the ecosystem trust anchor; its status is good; the device is
/// in one of this owner's imported manifests, in a state that may enroll, and the presented certificate is byte for
/// byte the manifest's; the request names this device; its key is neither the IDevID key nor any key the registry
/// knows; and it carries a TLS key binding (``TLSKeyBinding``) made by the IDevID key. The device is then
/// commissioned and activated with its new operational identity (LDevID), in one transaction with the certificate.
///
/// A second first-enrollment of a device that already holds an LDevID, with another key, is a suspected clone: it is
/// refused, the device is suspended and an alert is written. The same request again (the same new key, its answer
/// lost on the way) gets the certificate already issued, so a device whose server died after the commit finishes on
/// its retry. Every refusal is recorded as an event, with the rule, the device when known and the peer's address.
public struct DeviceEnrollment: Sendable {
    /// The owner's CA engine: its policy (the `ldevid` profile, the enrollment policy), clock and randomness.
    public let ecosystem: Ecosystem
    public let registry: any EnrollmentRegistry
    /// The owner's domain CA, with its key.
    public let authority: CertificateAuthority
    /// The ecosystem root the owner trusts; factory identities must chain to it.
    public let trustAnchor: Certificate
    /// Where the status of factory identities (and their vendor CAs) comes from.
    public let identityStatus: StatusEvidence

    public init(
        ecosystem: Ecosystem, registry: any EnrollmentRegistry, authority: CertificateAuthority,
        trustAnchor: Certificate, identityStatus: StatusEvidence
    ) {
        self.ecosystem = ecosystem
        self.registry = registry
        self.authority = authority
        self.trustAnchor = trustAnchor
        self.identityStatus = identityStatus
    }

    /// The enrollment of an owner's registry: its domain CA (with its key from custody) and its trust anchor.
    public static func load(ecosystem: Ecosystem, registry: any EnrollmentRegistry, identityStatus: StatusEvidence)
        async throws -> DeviceEnrollment
    {
        guard try await registry.authority(id: Ecosystem.domainCAID) != nil else {
            throw FleetkeyError(
                .configuration, "this registry has no domain CA to enroll devices with: run `fleetkey owner ca create`")
        }
        guard let anchor = try await registry.authority(id: TrustAnchor.authorityID) else {
            throw FleetkeyError(.configuration, "this registry has no trust anchor: it is not an owner's registry")
        }
        return DeviceEnrollment(
            ecosystem: ecosystem, registry: registry,
            authority: try await ecosystem.authority(id: Ecosystem.domainCAID),
            trustAnchor: try Certificate(derEncoded: anchor.certificateDER), identityStatus: identityStatus)
    }

    /// One EST request, as the server received it.
    public struct Request: Sendable {
        /// DER of the certificate the TLS client authenticated with; `nil` when it presented none.
        public var clientCertificate: [UInt8]?
        /// The PKCS#10 request, DER.
        public var csr: [UInt8]
        /// The client's address, for the event log.
        public var peer: String
        /// What was wrong with the HTTP body before it could be a request (its media type, its base64), if anything:
        /// refused as a malformed request, and recorded like every refusal.
        public var bodyProblem: String?

        public init(clientCertificate: [UInt8]?, csr: [UInt8], peer: String, bodyProblem: String? = nil) {
            self.clientCertificate = clientCertificate
            self.csr = csr
            self.peer = peer
            self.bodyProblem = bodyProblem
        }
    }

    /// What a successful request gets.
    public enum Outcome: Sendable {
        /// The operational identity, recorded in the registry.
        case issued(Certificate)
        /// The owner's policy asks for approval (`fleetkey device commission`): try again after this many seconds.
        case pending(retryAfterSeconds: Int)
    }

    /// The certificates `/cacerts` returns: the domain CA.
    public var caCertificates: [Certificate] { [authority.certificate] }

    var policy: EnrollmentPolicy { ecosystem.policy.enrollment ?? .default }

    // MARK: Requests

    /// `/simpleenroll` (RFC 7030 §4.2.1), authenticated by the device's factory identity.
    public func enroll(_ request: Request) async throws -> Outcome {
        try await recordingRefusals(request, operation: "simpleenroll") { context in
            do {
                return try await firstEnrollment(request, context: &context)
            } catch let error as FleetkeyError where error.code == .conflict {
                // Another request for the same device committed first: decide again on what it wrote.
                return try await firstEnrollment(request, context: &context)
            }
        }
    }

    /// `/simplereenroll` (RFC 7030 §4.2.2), authenticated by the device's current operational identity.
    public func reenroll(_ request: Request) async throws -> Outcome {
        try await recordingRefusals(request, operation: "simplereenroll") { context in
            try await renewal(request, context: &context)
        }
    }

    // MARK: First enrollment

    /// What a refusal's event says about the request.
    struct RefusalContext {
        var device: DeviceID?
    }

    func firstEnrollment(_ request: Request, context: inout RefusalContext) async throws -> Outcome {
        let now = ecosystem.clock.now()
        let presented = try clientCertificate(request)
        if isDomainIssued(presented) {
            throw EnrollmentRefusal(
                .identity, .forbidden,
                "an operational identity (LDevID) does not enroll again: renew it with /simplereenroll")
        }
        let id = try deviceID(naming: presented)
        guard let vendor = try await registry.vendor(named: id.vendor),
            let vendorAuthority = try await registry.authority(id: vendor.authorityID)
        else {
            throw EnrollmentRefusal(
                .manifest, .forbidden, "no manifest of vendor '\(id.vendor)' was imported into this owner's registry")
        }
        let vendorCA = try Certificate(derEncoded: vendorAuthority.certificateDER)

        // 1. The chain to the ecosystem trust anchor.
        var verifier = Verifier(rootCertificates: CertificateStore([trustAnchor])) {
            EcosystemChainPolicy(validationTime: now)
        }
        if case .couldNotValidate(let failures) = await verifier.validate(
            leaf: presented, intermediates: CertificateStore([vendorCA]))
        {
            throw EnrollmentRefusal(
                .chain, .forbidden,
                "the client certificate does not chain to the trust anchor '\(trustAnchor.subject)': "
                    + (failures.first.map { "\($0.policyFailureReason)" } ?? "no path").prefix(200))
        }
        // 2. Its status, and its vendor CA's.
        let checker = RevocationChecker(evidence: identityStatus, now: now)
        for (certificate, issuer, issuerID, what) in [
            (presented, vendorCA, vendor.authorityID, "factory identity"),
            (vendorCA, trustAnchor, TrustAnchor.authorityID, "vendor CA '\(vendorCA.subject)'"),
        ] {
            switch await checker.check([certificate], issuedBy: issuer, issuerID: issuerID)[0] {
            case .good: break
            case .revoked(let how):
                throw EnrollmentRefusal(.status, .forbidden, "the \(what) is revoked: \(how)")
            case .unknown(let why):
                throw EnrollmentRefusal(
                    .status, .unavailable, "the status of the \(what) cannot be established now: \(why)")
            }
        }
        // 3. The device, in this owner's manifests, with exactly this certificate.
        guard let device = try await registry.device(id), device.owner != nil else {
            throw EnrollmentRefusal(.manifest, .forbidden, "device \(id) is in none of this owner's imported manifests")
        }
        context.device = id
        let certificates = try await registry.certificates(forDevice: id)
        guard
            let factory = certificates.first(where: {
                $0.issuer == vendor.authorityID && $0.profile == CertificateProfile.Name.deviceIdentity
            }), factory.der == request.clientCertificate
        else {
            throw EnrollmentRefusal(
                .identity, .forbidden,
                "the presented certificate is not the factory identity the manifest carried for device \(id)")
        }
        switch device.state {
        case .shipped, .commissioned, .active, .suspended: break
        default:
            throw EnrollmentRefusal(.state, .forbidden, "device \(id) is \(device.state.rawValue) and cannot enroll")
        }
        // 4. The request: well formed, signed by its key, naming this device.
        let csr = try decodeRequest(request)
        let subject = try requestSubject(csr, device: id)
        let fingerprint = KeyRecord.fingerprint(ofSubjectPublicKeyInfo: csr.publicKey.subjectPublicKeyInfoDER)

        // A device that already holds an operational identity: its own lost answer, or a clone.
        if device.state == .active || device.state == .suspended {
            if let current = currentOperational(certificates), current.keyFingerprint == fingerprint,
                device.state == .active, (try? binding(csr, authenticatedBy: presented)) != nil
            {
                return .issued(try Certificate(derEncoded: current.der))
            }
            try await suspectClone(device, request: request, now: now)
        }
        // 5. A new key, bound to the authenticated identity.
        guard fingerprint != factory.keyFingerprint else {
            throw EnrollmentRefusal(
                .keyReuse, .forbidden,
                "the request's key is the factory identity's key: an operational identity needs a new key made in the "
                    + "secure element")
        }
        guard try await registry.keyRecord(fingerprint: fingerprint) == nil else {
            throw EnrollmentRefusal(
                .keyReuse, .forbidden, "the request's key is already known to this registry: a key is certified once")
        }
        try binding(csr, authenticatedBy: presented)

        // 6. Approval, then the lifecycle and the certificate in one transaction.
        let actor = "est:\(request.peer)"
        var events: [LifecycleEvent] = []
        var state = device.state
        if state == .shipped {
            if policy.requireApproval {
                try await registry.append([
                    LifecycleEvent(
                        at: now, actor: actor, action: .enrollmentPending, subject: .device(id),
                        detail: ["peer": request.peer, "key": fingerprint])
                ])
                return .pending(retryAfterSeconds: policy.retryAfterSeconds)
            }
            let next = try DeviceLifecycle().next(from: state, on: .commission)
            events.append(
                LifecycleEvent(
                    at: now, actor: actor, action: .deviceCommissioned, subject: .device(id), fromState: state.rawValue,
                    toState: next.rawValue, detail: ["by": "enrollment"]))
            state = next
        }
        let active = try DeviceLifecycle().next(from: state, on: .activate)
        let certificate = try await issue(
            subject: subject, key: csr.publicKey, device: device, newState: active, requiresNewKey: true,
            supersedes: [], actor: actor, now: now
        ) { serial in
            events + [
                LifecycleEvent(
                    at: now, actor: actor, action: .deviceActivated, subject: .device(id), fromState: state.rawValue,
                    toState: active.rawValue, detail: ["certificate": serial, "peer": request.peer])
            ]
        }
        return .issued(certificate)
    }

    /// Refuses a suspected clone: suspends its device (when active) and writes an alert, in one transaction.
    func suspectClone(_ device: DeviceRecord, request: Request, now: Date) async throws -> Never {
        let reason =
            "device \(device.id) already enrolled; a second first-enrollment with another key is a suspected clone, "
            + "so the device is suspended"
        let actor = "est:\(request.peer)"
        var events = [
            LifecycleEvent(
                at: now, actor: actor, action: .cloneSuspected, subject: .device(device.id),
                detail: ["peer": request.peer, "reason": reason]),
            refusalEvent(
                EnrollmentRefusal(.clone, .forbidden, reason), device: device.id, request: request,
                operation: "simpleenroll", now: now),
        ]
        if device.state == .active {
            var suspended = device
            suspended.state = try DeviceLifecycle().next(from: .active, on: .suspend)
            suspended.updatedAt = now
            events.append(
                LifecycleEvent(
                    at: now, actor: actor, action: .deviceSuspended, subject: .device(device.id),
                    fromState: device.state.rawValue, toState: suspended.state.rawValue,
                    detail: ["reason": "suspected clone"]))
            try await registry.change(
                DeviceChange(device: suspended, expectedState: .active), events: events, issuer: nil)
        } else {
            try await registry.append(events)
        }
        throw RecordedRefusal(refusal: EnrollmentRefusal(.clone, .forbidden, reason))
    }

    // MARK: Re-enrollment

    func renewal(_ request: Request, context: inout RefusalContext) async throws -> Outcome {
        let now = ecosystem.clock.now()
        let presented = try clientCertificate(request)
        guard isDomainIssued(presented) else {
            context.device = try? deviceID(naming: presented)
            throw EnrollmentRefusal(
                .identity, .forbidden,
                "re-enrollment takes an operational identity (LDevID) issued by this owner's domain CA; a factory "
                    + "identity (IDevID) enrolls with /simpleenroll")
        }
        guard
            let record = try await registry.certificate(issuer: authority.id, serial: presented.serialNumber.hexString),
            record.der == request.clientCertificate, let id = record.device
        else {
            throw EnrollmentRefusal(.identity, .forbidden, "this registry did not issue the presented certificate")
        }
        context.device = id
        guard presented.notValidBefore <= now, now <= presented.notValidAfter else {
            throw EnrollmentRefusal(
                .expired, .forbidden,
                "the operational identity is not valid now (\(presented.notValidBefore) to \(presented.notValidAfter)); "
                    + "an expired LDevID cannot renew itself")
        }
        guard let device = try await registry.device(id) else {
            throw EnrollmentRefusal(.manifest, .forbidden, "device \(id) is no longer in this registry")
        }
        let csr = try decodeRequest(request)
        // RFC 7030 §4.2.2: the subject of a re-enrollment is the current certificate's.
        guard csr.subject == presented.subject else {
            throw EnrollmentRefusal(
                .subject, .forbidden,
                "a re-enrollment must request the subject of the certificate it renews ('\(presented.subject)'), not "
                    + "'\(csr.subject)'")
        }
        let fingerprint = KeyRecord.fingerprint(ofSubjectPublicKeyInfo: csr.publicKey.subjectPublicKeyInfoDER)
        let certificates = try await registry.certificates(forDevice: id)
        if record.status == .revoked {
            if record.revocation?.reason == .superseded, let current = currentOperational(certificates),
                current.keyFingerprint == fingerprint, device.state == .active,
                (try? binding(csr, authenticatedBy: presented)) != nil
            {
                return .issued(try Certificate(derEncoded: current.der))
            }
            throw EnrollmentRefusal(
                .status, .forbidden,
                "the operational identity is revoked (\(record.revocation.map { "\($0.reason)" } ?? "no reason given"))"
            )
        }
        guard device.state == .active else {
            throw EnrollmentRefusal(.state, .forbidden, "device \(id) is \(device.state.rawValue) and cannot renew")
        }
        let sameKey = fingerprint == record.keyFingerprint
        if !sameKey, try await registry.keyRecord(fingerprint: fingerprint) != nil {
            throw EnrollmentRefusal(
                .keyReuse, .forbidden, "the request's key is already known to this registry: a key is certified once")
        }
        try binding(csr, authenticatedBy: presented)
        let actor = "est:\(request.peer)"
        let old = RevocationUnit.CertificateKey(issuer: record.issuer, serial: record.serial)
        let certificate = try await issue(
            subject: try SubjectName(presented.subject, field: "LDevID subject"), key: csr.publicKey, device: device,
            newState: .active, requiresNewKey: !sameKey, supersedes: [old], actor: actor, now: now
        ) { serial in
            [
                LifecycleEvent(
                    at: now, actor: actor, action: .deviceReenrolled, subject: .device(id),
                    fromState: DeviceState.active.rawValue, toState: DeviceState.active.rawValue,
                    detail: ["certificate": serial, "previous": record.serial, "peer": request.peer]),
                LifecycleEvent(
                    at: now, actor: actor, action: .certificateRevoked,
                    subject: .certificate(issuer: record.issuer, serial: record.serial),
                    detail: ["reason": "\(RevocationReason.superseded)", "by": serial]),
            ]
        }
        return .issued(certificate)
    }

    // MARK: Shared steps

    /// Signs the LDevID and records it with the device's new state and `events`, drawing a new serial on a
    /// collision.
    func issue(
        subject: SubjectName, key: Certificate.PublicKey, device: DeviceRecord, newState: DeviceState,
        requiresNewKey: Bool, supersedes: [RevocationUnit.CertificateKey], actor: String, now: Date,
        events: (String) -> [LifecycleEvent]
    ) async throws -> Certificate {
        let keyRecord = try ecosystem.keyRecord(
            key, custody: .secureElement, location: device.hardwareModule?.serialText, now: now)
        var changed = device
        changed.state = newState
        changed.updatedAt = now
        for attempt in 1...Ecosystem.serialAttempts {
            let draft = try ecosystem.builder.draft(
                .init(profileName: CertificateProfile.Name.ldevid, subject: subject, publicKey: key),
                issuer: authority.info, issuerKey: authority.keySpec, serial: ecosystem.serials.next(), now: now)
            let certificate = try authority.issue(draft, now: now)
            let record = try ecosystem.certificateRecord(
                certificate, draft: draft, issuer: authority.id, key: keyRecord, device: device.id, now: now)
            let issued = LifecycleEvent(
                at: now, actor: actor, action: .certificateIssued,
                subject: .certificate(issuer: authority.id, serial: record.serial),
                detail: ["profile": CertificateProfile.Name.ldevid, "device": device.id.description])
            do {
                try await registry.enroll(
                    EnrollmentUnit(
                        issuance: IssuanceUnit(
                            issuer: authority.issuing, certificate: record, key: keyRecord,
                            device: DeviceChange(device: changed, expectedState: device.state),
                            events: [issued] + events(record.serial)),
                        requiresNewKey: requiresNewKey, supersedes: supersedes))
                return certificate
            } catch is DuplicateSerialError where attempt < Ecosystem.serialAttempts {
                continue
            }
        }
        throw FleetkeyError(.storage, "could not draw a unique serial number in \(Ecosystem.serialAttempts) attempts")
    }

    func clientCertificate(_ request: Request) throws -> Certificate {
        guard let der = request.clientCertificate else {
            throw EnrollmentRefusal(
                .clientCertificate, .unauthenticated,
                "no client certificate: EST here authenticates devices by certificate only (TLS client authentication)")
        }
        do {
            return try Certificate(derEncoded: der)
        } catch {
            throw EnrollmentRefusal(.chain, .unauthenticated, "the client certificate is not a valid X.509 certificate")
        }
    }

    /// Whether the domain CA issued `certificate` (its name and its signature).
    func isDomainIssued(_ certificate: Certificate) -> Bool {
        certificate.issuer == authority.certificate.subject
            && authority.certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
    }

    /// The device a factory identity names: `O=<vendor>`, `serialNumber=<serial>`.
    func deviceID(naming certificate: Certificate) throws -> DeviceID {
        let subject = try? SubjectName(certificate.subject, field: "client certificate subject")
        guard let vendorText = subject?.values(.organization).first, let vendor = try? VendorName(vendorText),
            let serialText = subject?.values(.serialNumber).first, let serial = try? DeviceSerial(serialText)
        else {
            throw EnrollmentRefusal(
                .chain, .forbidden,
                "the client certificate's subject '\(certificate.subject)' names no device (O=<vendor>, "
                    + "serialNumber=<serial>)")
        }
        return DeviceID(vendor: vendor, serial: serial)
    }

    /// The request, well formed, signed by its own key, for a key the `ldevid` profile and the algorithm policy allow.
    func decodeRequest(_ request: Request) throws -> CertificateSigningRequest {
        if let problem = request.bodyProblem {
            throw EnrollmentRefusal(.request, .malformed, problem)
        }
        let now = ecosystem.clock.now()
        let csr: CertificateSigningRequest
        do {
            csr = try ecosystem.policy.decodeRequest(request.csr, profile: CertificateProfile.Name.ldevid, at: now)
        } catch let error as FleetkeyError where error.code == .algorithmNotAllowed {
            throw EnrollmentRefusal(.request, .forbidden, error.reason)
        } catch {
            throw EnrollmentRefusal(.request, .malformed, "the body is not a PKCS#10 request (RFC 2986) in base64 DER")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw EnrollmentRefusal(
                .request, .malformed, "the request's signature does not verify with its own key (RFC 2986 §3)")
        }
        do {
            let profile = try ecosystem.policy.profile(CertificateProfile.Name.ldevid)
            try ecosystem.policy.algorithms.check(
                try KeySpec(csr.publicKey), at: now, profile: CertificateProfile.Name.ldevid,
                profileFamilies: profile.allowedAlgorithms)
        } catch let error as FleetkeyError {
            throw EnrollmentRefusal(.request, .forbidden, error.reason)
        }
        return csr
    }

    /// The subject of a first LDevID: the request's, which must name the device (`O=<vendor>`,
    /// `serialNumber=<serial>`, and at most a CN besides), in the profile's order.
    func requestSubject(_ csr: CertificateSigningRequest, device id: DeviceID) throws -> SubjectName {
        let refusal = EnrollmentRefusal(
            .subject, .forbidden,
            "the request's subject '\(csr.subject)' does not name device \(id): it must be O=\(id.vendor), "
                + "serialNumber=\(id.serial) (and optionally CN)")
        guard let subject = try? SubjectName(csr.subject, field: "request subject"),
            subject.values(.organization) == [id.vendor.value], subject.values(.serialNumber) == [id.serial.value],
            subject.attributes.allSatisfy({ [.organization, .serialNumber, .commonName].contains($0.0) })
        else { throw refusal }
        return try ecosystem.canonicalDeviceSubject(subject)
    }

    /// Refuses a request without a TLS key binding made by the key that authenticated the session.
    @discardableResult
    func binding(_ csr: CertificateSigningRequest, authenticatedBy presented: Certificate) throws -> TLSKeyBinding {
        let found: TLSKeyBinding?
        do {
            found = try TLSKeyBinding(in: csr)
        } catch {
            throw EnrollmentRefusal(.request, .malformed, error.reason)
        }
        guard let binding = found else {
            throw EnrollmentRefusal(
                .binding, .forbidden,
                "the request carries no TLS key binding attribute (\(FleetkeyOID.tlsKeyBinding), docs/est.md): it is "
                    + "not bound to the authenticated identity (RFC 7030 §3.5)")
        }
        guard binding.verifies(requestedKey: csr.publicKey, authenticatingKey: presented.publicKey) else {
            throw EnrollmentRefusal(
                .binding, .forbidden,
                "the request's TLS key binding was not made by the key that authenticated this TLS session")
        }
        return binding
    }

    /// The device's newest valid operational identity.
    func currentOperational(_ certificates: [CertificateRecord]) -> CertificateRecord? {
        certificates.filter { $0.issuer == authority.id && $0.status == .valid }.max { $0.issuedAt < $1.issuedAt }
    }

    // MARK: Refusals

    /// A refusal whose event is already written (with the clone's own transaction).
    struct RecordedRefusal: Error {
        var refusal: EnrollmentRefusal
    }

    /// Runs `body`; a refusal it throws is recorded as an event, then thrown on.
    func recordingRefusals(
        _ request: Request, operation: String, _ body: (inout RefusalContext) async throws -> Outcome
    ) async throws -> Outcome {
        var context = RefusalContext()
        do {
            return try await body(&context)
        } catch let recorded as RecordedRefusal {
            throw recorded.refusal
        } catch let refusal as EnrollmentRefusal {
            try await registry.append([
                refusalEvent(
                    refusal, device: context.device, request: request, operation: operation,
                    now: ecosystem.clock.now())
            ])
            throw refusal
        }
    }

    func refusalEvent(
        _ refusal: EnrollmentRefusal, device: DeviceID?, request: Request, operation: String, now: Date
    ) -> LifecycleEvent {
        LifecycleEvent(
            at: now, actor: "est:\(request.peer)", action: .enrollmentRefused,
            subject: device.map { .device($0) } ?? .authority(authority.id),
            detail: [
                "rule": refusal.rule.rawValue, "reason": refusal.reason, "peer": request.peer, "operation": operation,
            ])
    }
}
