import Foundation
import SwiftASN1
import X509

/// The owner's access decision point: may this device take this action on this resource?
///
/// A request names the device by the certificate it authenticated with (what a gateway saw in its TLS session) or
/// by serial. It is allowed only when every check passes, in this order, and the policy allows it:
/// 1. the certificate chains to the owner's domain CA or to the ecosystem root (through the vendor CA), and is
///    within its validity (RFC 5280 §6.1.3 (a)(2));
/// 2. the registry issued or imported it and has it good (not revoked);
/// 3. its device is known and `active`: suspended, revoked, released, retired and unknown devices are always
///    denied;
/// 4. the policy (``AccessPolicy``) allows the action on the resource for the device's groups and attributes, and no
///    deny rule applies.
/// Every deny of a known device is recorded (`authz.denied`); a retired device asking is also an alert
/// (`alert.retired-identity`), since its identity should never be used again.
public struct AccessDecisionPoint: Sendable {
    public let registry: any AccessRegistry
    public let clock: any WallClock
    public let actor: String
    /// The certificates a request's certificate may chain to: the domain CA (when the owner has one) and the root.
    public let trustRoots: [Certificate]
    /// The vendor CAs known to the registry, as intermediates to the root.
    public let intermediates: [Certificate]
    /// Registry authority id by issuer name, to find a presented certificate's record.
    let authorityBySubject: [DistinguishedName: String]

    public init(registry: any AccessRegistry, clock: any WallClock, actor: String, authorities: [AuthorityRecord])
        throws
    {
        self.registry = registry
        self.clock = clock
        self.actor = actor
        var roots: [Certificate] = []
        var intermediates: [Certificate] = []
        var bySubject: [DistinguishedName: String] = [:]
        for authority in authorities {
            let certificate = try Certificate(derEncoded: authority.certificateDER)
            bySubject[certificate.subject] = authority.id
            if authority.kind == .vendor { intermediates.append(certificate) } else { roots.append(certificate) }
        }
        trustRoots = roots
        self.intermediates = intermediates
        authorityBySubject = bySubject
    }

    /// The decision point of an owner's registry: its trust anchor, its domain CA if any, and its vendors' CAs.
    public static func load(registry: any AccessRegistry, clock: any WallClock, actor: String) async throws
        -> AccessDecisionPoint
    {
        var authorities: [AuthorityRecord] = []
        for id in [TrustAnchor.authorityID, Ecosystem.domainCAID] {
            if let authority = try await registry.authority(id: id) { authorities.append(authority) }
        }
        guard authorities.contains(where: { $0.kind == .root }) else {
            throw FleetkeyError(.configuration, "this registry has no trust anchor to check certificates against")
        }
        for vendor in try await registry.vendors() {
            if let authority = try await registry.authority(id: vendor.authorityID) { authorities.append(authority) }
        }
        return try AccessDecisionPoint(registry: registry, clock: clock, actor: actor, authorities: authorities)
    }

    /// Who is asking about.
    public enum Subject: Sendable {
        /// DER of the certificate the device authenticated with.
        case certificate([UInt8])
        /// A device serial, or `VENDOR/SERIAL`; its current operational certificate is the one checked.
        case device(DeviceRecord)
    }

    public struct Request: Sendable {
        public var subject: Subject
        public var action: String
        public var resource: String
        /// Who asked (a gateway's address, `cli`), for the event log.
        public var requester: String

        public init(subject: Subject, action: String, resource: String, requester: String) {
            self.subject = subject
            self.action = action
            self.resource = resource
            self.requester = requester
        }
    }

    /// An answer: allowed or not, the rule that decided (`nil` when a check before the policy, or the absence of any
    /// allowing rule, decided), and why.
    public struct Decision: Sendable, Hashable, Codable {
        public var decision: String
        public var rule: String?
        public var reason: String
        /// `VENDOR/SERIAL` of the device, when known.
        public var device: String?
        /// `issuer/serial` of the certificate checked, when there was one.
        public var certificate: String?
        /// The SHA-256 of the policy in force, when one was consulted.
        public var policy: String?

        public var allowed: Bool { decision == "allow" }
    }

    /// The groups and policy a decision reads, loaded once and reused until the caller loads again.
    public struct Snapshot: Sendable {
        public var groups: [DeviceGroup]
        public var policy: AccessPolicy?

        public init(groups: [DeviceGroup], policy: AccessPolicy?) {
            self.groups = groups
            self.policy = policy
        }

        public static func load(from registry: any AccessStore) async throws -> Snapshot {
            let groups = try await registry.groups()
            let policy = try await registry.accessPolicy().map {
                // Checked when it was loaded; a document that no longer reads is damage, never "allow".
                do throws(FleetkeyError) {
                    return try AccessPolicy(document: $0.document, knownGroups: nil)
                } catch {
                    throw FleetkeyError(
                        .storage, "the stored access policy \($0.digest.prefix(16)) no longer reads: \(error.reason)")
                }
            }
            return Snapshot(groups: groups, policy: policy)
        }
    }

    public func decide(_ request: Request, snapshot: Snapshot) async throws -> Decision {
        try Self.checkName(request.action, "action")
        try Self.checkName(request.resource, "resource")
        let now = clock.now()
        var device: DeviceRecord?
        var certificateName: String?
        func deny(_ reason: String, rule: String? = nil) async throws -> Decision {
            let decision = Decision(
                decision: "deny", rule: rule, reason: reason, device: device.map { "\($0.id)" },
                certificate: certificateName, policy: snapshot.policy?.digest)
            if let device {
                var events = [
                    LifecycleEvent(
                        at: now, actor: actor, action: .accessDenied, subject: .device(device.id),
                        detail: [
                            "action": request.action, "resource": request.resource, "rule": rule ?? "-",
                            "reason": String(reason.prefix(200)), "requester": request.requester,
                        ])
                ]
                if device.state == .decommissioned {
                    events.append(
                        LifecycleEvent(
                            at: now, actor: actor, action: .retiredIdentityUsed, subject: .device(device.id),
                            detail: ["by": "authz", "requester": request.requester]))
                }
                try await registry.append(events)
            }
            return decision
        }

        // 1–2. The certificate: its chain, its validity, its record.
        let record: CertificateRecord
        switch request.subject {
        case .certificate(let der):
            let certificate: Certificate
            do {
                certificate = try Certificate(derEncoded: der)
            } catch {
                throw FleetkeyError(.invalidArgument, "the certificate is not a DER X.509 certificate: \(error)")
            }
            let serial = Hex.upper(certificate.serialNumber.bytes)
            let issuerID = authorityBySubject[certificate.issuer]
            if let issuerID { certificateName = "\(issuerID)/\(serial)" }
            var found: CertificateRecord?
            if let issuerID { found = try await registry.certificate(issuer: issuerID, serial: serial) }
            if let deviceID = found?.device { device = try await registry.device(deviceID) }
            var verifier = Verifier(rootCertificates: CertificateStore(trustRoots)) {
                EcosystemChainPolicy(validationTime: now)
            }
            if case .couldNotValidate(let failures) = await verifier.validate(
                leaf: certificate, intermediates: CertificateStore(intermediates))
            {
                return try await deny(
                    "the certificate does not chain to the domain CA or the ecosystem root, or is outside its "
                        + "validity: " + (failures.first.map { "\($0.policyFailureReason)" } ?? "no path").prefix(200))
            }
            guard let found, found.der == der else {
                return try await deny("the certificate is not one this registry issued or imported")
            }
            record = found
        case .device(let known):
            device = known
            // Its operational identity when it has one valid now, else its factory identity.
            let certificates = try await registry.certificates(forDevice: known.id)
            let usable = { (record: CertificateRecord) in
                record.status == .valid && record.notBefore <= now && now <= record.notAfter
            }
            let operational = certificates.last { usable($0) && $0.issuer == Ecosystem.domainCAID }
            let current = certificates.last(where: usable)
            guard let chosen = operational ?? current else {
                return try await deny("device \(known.id) holds no certificate that is valid now")
            }
            certificateName = "\(chosen.issuer)/\(chosen.serial)"
            record = chosen
        }
        if case .revoked = record.status {
            let reason = record.revocation.map { " (\($0.reason))" } ?? ""
            return try await deny("the certificate \(record.issuer)/\(record.serial) is revoked\(reason)")
        }

        // 3. The device.
        guard let known = device else {
            return try await deny("the certificate names no device this registry knows")
        }
        guard known.state == .active else {
            let state = known.state == .decommissioned ? "retired (decommissioned)" : known.state.rawValue
            return try await deny("device \(known.id) is \(state); only an active device is granted anything")
        }

        // 4. The policy.
        guard let policy = snapshot.policy else {
            return try await deny("no access policy is loaded (`fleetkey authz policy set`): nothing is allowed")
        }
        let groups = snapshot.groups.filter { $0.contains(known) }
        var attributes: [String: Set<String>] = [:]
        for group in groups { for (key, value) in group.attributes { attributes[key, default: []].insert(value) } }
        guard
            let rule = policy.decidingRule(
                action: request.action, resource: request.resource, groups: Set(groups.map(\.name)),
                attributes: attributes)
        else {
            return try await deny("no rule allows \(request.action) on \(request.resource) for this device")
        }
        if rule.effect == .deny {
            return try await deny("rule '\(rule.id)' denies \(request.action) on \(request.resource)", rule: rule.id)
        }
        return Decision(
            decision: "allow", rule: rule.id,
            reason: "rule '\(rule.id)' allows \(request.action) on \(request.resource)",
            device: "\(known.id)", certificate: certificateName, policy: policy.digest)
    }

    /// Checks who asks over `POST /v1/authz`: a gateway (or any client) authenticated by a certificate of the
    /// owner's domain CA that is within its validity and good in the registry. Anyone else is refused before any
    /// decision, since a decision tells about the owner's devices and policy.
    public func authenticateRequester(_ der: [UInt8]?) async throws {
        guard let der else {
            throw EnrollmentRefusal(
                .clientCertificate, .unauthenticated,
                "present a client certificate of the owner's domain CA to ask for access decisions")
        }
        let now = clock.now()
        guard let certificate = try? Certificate(derEncoded: der),
            authorityBySubject[certificate.issuer] == Ecosystem.domainCAID,
            let domainCA = trustRoots.first(where: { $0.subject == certificate.issuer })
        else {
            throw EnrollmentRefusal(
                .identity, .forbidden, "only a client with a certificate of the owner's domain CA may ask for decisions"
            )
        }
        var verifier = Verifier(rootCertificates: CertificateStore([domainCA])) {
            EcosystemChainPolicy(validationTime: now)
        }
        guard case .validCertificate = await verifier.validate(leaf: certificate, intermediates: CertificateStore())
        else {
            throw EnrollmentRefusal(
                .chain, .forbidden, "the client certificate does not verify under the domain CA, or has expired")
        }
        let record = try await registry.certificate(
            issuer: Ecosystem.domainCAID, serial: Hex.upper(certificate.serialNumber.bytes))
        guard let record, record.der == der, record.status == .valid else {
            throw EnrollmentRefusal(
                .status, .forbidden, "the client certificate is revoked, or not one this registry issued")
        }
    }

    static func checkName(_ value: String, _ field: String) throws(FleetkeyError) {
        guard (1...512).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21..<0x7F).contains($0) }) else {
            throw FleetkeyError(
                .invalidArgument,
                "the \(field) \(NameRule.quoted(value)) must be 1-512 printable ASCII characters without spaces")
        }
    }
}
