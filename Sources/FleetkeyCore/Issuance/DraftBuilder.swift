import Foundation
import SwiftASN1
import X509

/// Builds a certificate draft from a profile: the one place the ecosystem's certificate shape is written.
///
/// Inputs that came from outside (the request's subject, key and hardwareModuleName) are checked against
/// the profile and the issuer's namespace first; the finished draft is linted separately before signing.
public struct DraftBuilder: Sendable {
    public var policy: EcosystemPolicy

    public init(policy: EcosystemPolicy) {
        self.policy = policy
    }

    /// What the subject of a new certificate asks for.
    public struct Request: Sendable {
        public var profileName: String
        public var subject: SubjectName
        public var publicKey: Certificate.PublicKey
        public var hardwareModule: HardwareModuleName?
        /// For CA profiles: the organization the new CA's name constraints confine subjects to.
        public var constrainToOrganization: String?

        public init(
            profileName: String,
            subject: SubjectName,
            publicKey: Certificate.PublicKey,
            hardwareModule: HardwareModuleName? = nil,
            constrainToOrganization: String? = nil
        ) {
            self.profileName = profileName
            self.subject = subject
            self.publicKey = publicKey
            self.hardwareModule = hardwareModule
            self.constrainToOrganization = constrainToOrganization
        }
    }

    /// Builds the draft. `issuer` is `nil` for a self-signed root, whose own key identifies it.
    public func draft(
        _ request: Request,
        issuer: IssuerInfo?,
        issuerKey: KeySpec,
        serial: Certificate.SerialNumber,
        now: Date
    ) throws -> CertificateDraft {
        let profile = try policy.profile(request.profileName)
        let keySpec = try KeySpec(request.publicKey)
        try policy.algorithms.check(
            keySpec, at: now, profile: request.profileName, profileFamilies: profile.allowedAlgorithms)
        try checkSubject(request.subject, profile: profile, name: request.profileName, issuer: issuer)
        if profile.hardwareModuleName == .required, request.hardwareModule == nil {
            throw FleetkeyError(
                .subjectRejected,
                "profile '\(request.profileName)' requires a hardwareModuleName (RFC 4108): give one in the request's "
                    + "subjectAltName or with --hw-serial")
        }
        if profile.hardwareModuleName == .forbidden, request.hardwareModule != nil {
            throw FleetkeyError(
                .subjectRejected, "profile '\(request.profileName)' does not allow a hardwareModuleName")
        }

        let start = Date(
            timeIntervalSince1970: (now.timeIntervalSince1970 - Double(profile.backdateSeconds)).rounded(.down))
        var end = start.addingTimeInterval(profile.validity)
        if let issuer, end > issuer.notAfter { end = issuer.notAfter }

        let subjectDN = try request.subject.distinguishedName()
        let ski = SubjectKeyIdentifier(hash: request.publicKey)
        let authorityKeyID = issuer?.keyIdentifier ?? Array(ski.keyIdentifier)
        let authorityID = issuer?.authorityID
        var crlScope: CRLScope?
        if let authorityID, profile.issuerPointers.contains("crl") {
            crlScope = policy.crlScope(issuer: authorityID, serial: Array(serial.bytes))
        }
        let extensions = try Certificate.Extensions {
            Critical(
                profile.certificateAuthority
                    ? BasicConstraints.isCertificateAuthority(maxPathLength: profile.pathLength)
                    : BasicConstraints.notCertificateAuthority)
            Critical(try ProfileVocabulary.keyUsage(profile.keyUsage, profile: request.profileName))
            if !profile.extendedKeyUsage.isEmpty {
                try ExtendedKeyUsage(
                    try ProfileVocabulary.extendedKeyUsage(profile.extendedKeyUsage, profile: request.profileName))
            }
            ski
            AuthorityKeyIdentifier(keyIdentifier: authorityKeyID[...])
            if let organization = request.constrainToOrganization {
                Critical(
                    NameConstraints(permittedSubtrees: [
                        .directoryName(
                            DistinguishedName([
                                RelativeDistinguishedName(try SubjectAttribute.organization.attribute(organization))
                            ]))
                    ]))
            }
            if let hardwareModule = request.hardwareModule {
                SubjectAlternativeNames([try hardwareModule.generalName()])
            }
            if let authorityID {
                let access = Self.accessDescriptions(profile.issuerPointers, issuer: authorityID, urls: policy.urls)
                if !access.isEmpty { AuthorityInformationAccess(access) }
                if let crlScope {
                    CRLDistributionPoints([DistributionPoint(uri: policy.crlURL(issuer: authorityID, scope: crlScope))])
                }
            }
            if profile.ocspNoCheck {
                OCSPNoCheck()
            }
        }
        return CertificateDraft(
            profileName: request.profileName,
            serialNumber: serial,
            publicKey: request.publicKey,
            keySpec: keySpec,
            notBefore: start,
            notAfter: end,
            issuer: issuer?.subject ?? subjectDN,
            subject: request.subject,
            extensions: extensions,
            signatureAlgorithm: issuerKey.signatureAlgorithm,
            crlScope: crlScope
        )
    }

    /// The authorityInfoAccess entries a profile's `issuerPointers` ask for, in RFC 5280 §4.2.2.1 order.
    static func accessDescriptions(_ pointers: [String], issuer: String, urls: EcosystemPolicy.PublicationURLs)
        -> [AuthorityInformationAccess.AccessDescription]
    {
        var access: [AuthorityInformationAccess.AccessDescription] = []
        if pointers.contains("ocsp") {
            access.append(.init(method: .ocspServer, location: .uniformResourceIdentifier(urls.ocsp(issuer: issuer))))
        }
        if pointers.contains("caIssuers") {
            access.append(
                .init(method: .issuingCA, location: .uniformResourceIdentifier(urls.caIssuers(issuer: issuer))))
        }
        return access
    }

    /// Checks the subject against the profile's attribute rules and the issuer's name constraints.
    func checkSubject(_ subject: SubjectName, profile: CertificateProfile, name: String, issuer: IssuerInfo?)
        throws(FleetkeyError)
    {
        for (attribute, value) in subject.attributes {
            guard
                profile.requiredSubject.contains(attribute.rawValue)
                    || profile.optionalSubject.contains(attribute.rawValue)
            else {
                throw FleetkeyError(
                    .subjectRejected,
                    "subject attribute \(attribute.rawValue)=\(value) is not allowed by profile '\(name)' (allowed: "
                        + (profile.requiredSubject + profile.optionalSubject).joined(separator: ", ") + ")")
            }
            guard !value.isEmpty, value.count <= 64 else {
                throw FleetkeyError(
                    .subjectRejected, "subject attribute \(attribute.rawValue) must be 1-64 characters (RFC 5280 ub-*)")
            }
        }
        for required in profile.requiredSubject {
            let count = subject.attributes.filter { $0.0.rawValue == required }.count
            guard count == 1 else {
                throw FleetkeyError(
                    .subjectRejected,
                    count == 0
                        ? "subject has no \(required): profile '\(name)' requires exactly one"
                        : "subject has \(count) \(required) attributes: profile '\(name)' requires exactly one")
            }
        }
        if let serial = subject.values(.serialNumber).first {
            do { _ = try DeviceSerial(serial) } catch let error as FleetkeyError { throw error } catch {}
        }
        if let issuer, !issuer.permits(try subject.distinguishedNameOrThrow()) {
            let organization = subject.values(.organization).first ?? "(none)"
            throw FleetkeyError(
                .subjectRejected,
                "subject O=\(organization) is outside the namespace of issuer '\(issuer.authorityID)': its name "
                    + "constraints permit only subjects beginning with "
                    + issuer.permittedSubtrees.map { $0.description }.joined(separator: " or "))
        }
    }
}

extension SubjectName {
    func distinguishedNameOrThrow() throws(FleetkeyError) -> DistinguishedName {
        do { return try distinguishedName() } catch {
            throw FleetkeyError(.subjectRejected, "subject cannot be encoded: \(error)")
        }
    }
}
