import Foundation
import X509

extension Ecosystem {
    /// The registry id of an owner's domain CA: what its status URLs name (`/ocsp/domain-ca`, `/crl/domain-ca.crl`).
    public static let domainCAID = "domain-ca"

    /// What creating an owner's domain CA produced.
    public struct DomainCASetup: Sendable {
        public var caCertificate: Certificate
        public var ocspResponderCertificate: Certificate
    }

    /// Creates an owner's domain CA in this (owner's) registry: a self-signed CA under the `owner-ca` profile, its key
    /// in custody (``caKeyCustody`` when given, such as a PKCS#11 token), and a delegated OCSP responder, so that the
    /// owner's `fleetkey serve` answers for the operational identities (LDevID) the CA issues over EST.
    ///
    /// The domain CA is the owner's own trust: devices and relying parties of the owner's domain trust it; the
    /// ecosystem root is not above it, because the owner, not the ecosystem, decides who is in its domain.
    public func createDomainCA(owner: OwnerName, algorithm: KeySpec, into registry: any EnrollmentStore)
        async throws -> DomainCASetup
    {
        let id = Self.domainCAID
        if try await store.authority(id: id) != nil {
            throw FleetkeyError(.alreadyExists, "this registry already has a domain CA; see `fleetkey owner ca show`")
        }
        let now = clock.now()
        let caCustody = caKeyCustody ?? custody
        var generated: [(custody: any KeyCustody, key: CustodiedKey)] = []
        do {
            let caKey = try await caCustody.generateKey(algorithm, label: id)
            generated.append((caCustody, caKey))
            let caDraft = try builder.draft(
                .init(
                    profileName: CertificateProfile.Name.ownerCA,
                    subject: SubjectName([(.organization, owner.value), (.commonName, "\(owner.value) Domain CA")]),
                    publicKey: caKey.publicKey),
                issuer: nil, issuerKey: algorithm, serial: serials.next(), now: now)
            let caCertificate = try CertificateAuthority.lintAndSign(
                caDraft, issuer: nil, key: try await caCustody.signingKey(caKey.reference),
                linter: ProfileLinter(policy: policy), now: now)
            let authority = try CertificateAuthority(
                id: id, certificate: caCertificate, signingKey: try await caCustody.signingKey(caKey.reference),
                policy: policy)

            let responderKey = try await custody.generateKey(
                algorithm, label: "\(id)-\(CertificateProfile.Name.ocspResponder)")
            generated.append((custody, responderKey))
            let responderDraft = try builder.draft(
                .init(
                    profileName: CertificateProfile.Name.ocspResponder,
                    subject: SubjectName([
                        (.organization, owner.value), (.commonName, "\(owner.value) Domain OCSP Responder"),
                    ]),
                    publicKey: responderKey.publicKey),
                issuer: authority.info, issuerKey: authority.keySpec, serial: serials.next(), now: now)
            let responderCertificate = try authority.issue(responderDraft, now: now)

            let caKeyRecord = try keyRecord(
                caKey.publicKey, custody: caCustody.kind, location: caKey.reference, now: now)
            let responderKeyRecord = try keyRecord(
                responderKey.publicKey, custody: custody.kind, location: responderKey.reference, now: now)
            let certificates = [
                try certificateRecord(
                    caCertificate, draft: caDraft, issuer: id, key: caKeyRecord, device: nil, now: now),
                try certificateRecord(
                    responderCertificate, draft: responderDraft, issuer: id, key: responderKeyRecord, device: nil,
                    now: now),
            ]
            try await registry.addAuthority(
                AuthorityRecord(
                    id: id, kind: .owner, vendor: nil, certificateDER: try caCertificate.derBytes(),
                    keyReference: caKey.reference, algorithm: algorithm, createdAt: now),
                certificates: certificates, keys: [caKeyRecord, responderKeyRecord],
                events: [
                    event(.authorityCreated, subject: .authority(id), to: "active", detail: ["owner": owner.value])
                ]
                    + certificates.map {
                        event(
                            .certificateIssued, subject: .certificate(issuer: id, serial: $0.serial),
                            detail: ["profile": $0.profile])
                    })
            return DomainCASetup(caCertificate: caCertificate, ocspResponderCertificate: responderCertificate)
        } catch {
            for (owner, key) in generated { try? await owner.destroyKey(key.reference) }
            throw error
        }
    }
}
