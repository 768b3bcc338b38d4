import Foundation
import SwiftASN1
import X509

/// One way a draft differs from its profile: the field, the rule it breaks, and what was found.
public struct LintFinding: Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var rule: String
    public var found: String

    public init(field: String, rule: String, found: String) {
        self.field = field
        self.rule = rule
        self.found = found
    }

    public var description: String { "\(field): \(rule) (found: \(found))" }
}

/// The pre-issuance lint: checks a finished draft against its profile, the policy and the issuer.
///
/// It re-derives every rule from the profile rather than trusting the builder, so a bug in building (or a
/// hand-edited policy that contradicts itself) stops issuance instead of reaching a device. Nothing is
/// signed unless ``lint(_:issuer:now:)`` returns no findings.
public struct ProfileLinter: Sendable {
    public var policy: EcosystemPolicy

    public init(policy: EcosystemPolicy) {
        self.policy = policy
    }

    public func lint(_ draft: CertificateDraft, issuer: IssuerInfo?, now: Date) -> [LintFinding] {
        var findings: [LintFinding] = []
        func check(_ ok: Bool, _ field: String, _ rule: String, _ found: @autoclosure () -> String) {
            if !ok { findings.append(LintFinding(field: field, rule: rule, found: found())) }
        }
        guard let profile = policy.profiles[draft.profileName] else {
            return [LintFinding(field: "profile", rule: "must exist in policy.json", found: draft.profileName)]
        }

        // RFC 5280 §4.1.2.2: positive, at most 20 octets; at least 64 bits of entropy.
        let serial = Array(draft.serialNumber.bytes)
        check(
            (8...20).contains(serial.count) && (serial.first ?? 0) & 0x80 == 0 && serial.contains { $0 != 0 },
            "serialNumber", "positive, 8 to 20 octets (RFC 5280 §4.1.2.2, ≥64 random bits)", Hex.upper(serial))

        // Validity, RFC 5280 §4.1.2.5, nested inside the issuer's.
        check(draft.notBefore < draft.notAfter, "validity", "notBefore before notAfter", "\(draft.notBefore)")
        check(
            draft.notAfter.timeIntervalSince(draft.notBefore) <= profile.validity + 1,
            "validity",
            profile.validitySeconds.map { "at most \($0) s (profiles.\(draft.profileName).validitySeconds)" }
                ?? "at most \(profile.validityDays) days (profiles.\(draft.profileName).validityDays)",
            "\(draft.notBefore) – \(draft.notAfter)")
        if let issuer {
            check(
                draft.notAfter <= issuer.notAfter && draft.notBefore >= issuer.notBefore.addingTimeInterval(-86_400),
                "validity", "inside the issuer's validity", "\(draft.notAfter) vs issuer \(issuer.notAfter)")
            check(draft.issuer == issuer.subject, "issuer", "equals the issuing CA's subject", draft.issuer.description)
        }

        // Key against the algorithm policy.
        do {
            try policy.algorithms.check(
                draft.keySpec, at: now, profile: draft.profileName, profileFamilies: profile.allowedAlgorithms)
        } catch {
            findings.append(LintFinding(field: "subjectPublicKeyInfo", rule: "algorithm policy", found: error.reason))
        }

        // Subject against the profile and the issuer's name constraints.
        do {
            try DraftBuilder(policy: policy).checkSubject(
                draft.subject, profile: profile, name: draft.profileName, issuer: issuer)
        } catch {
            findings.append(LintFinding(field: "subject", rule: "profile subject rules", found: error.reason))
        }

        lintExtensions(draft, profile: profile, issuer: issuer, check: check)
        return findings
    }

    private func lintExtensions(
        _ draft: CertificateDraft,
        profile: CertificateProfile,
        issuer: IssuerInfo?,
        check: (Bool, String, String, @autoclosure () -> String) -> Void
    ) {
        let extensions = draft.extensions
        let oids = extensions.map(\.oid)
        check(Set(oids).count == oids.count, "extensions", "each extension at most once (RFC 5280 §4.2)", "\(oids)")
        let name = draft.profileName

        do {
            let basic = try extensions.basicConstraints
            let expected: BasicConstraints =
                profile.certificateAuthority
                ? .isCertificateAuthority(maxPathLength: profile.pathLength) : .notCertificateAuthority
            check(basic == expected, "basicConstraints", "as profiles.\(name) says", "\(String(describing: basic))")
            check(
                extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true, "basicConstraints",
                "critical (RFC 5280 §4.2.1.9)", "non-critical")

            let usage = try extensions.keyUsage
            let expectedUsage = try ProfileVocabulary.keyUsage(profile.keyUsage, profile: name)
            check(usage == expectedUsage, "keyUsage", "exactly \(profile.keyUsage)", "\(String(describing: usage))")
            check(
                extensions[oid: .X509ExtensionID.keyUsage]?.critical == true, "keyUsage",
                "critical (RFC 5280 §4.2.1.3)", "non-critical")

            let eku = try extensions.extendedKeyUsage.map { Array($0) } ?? []
            let expectedEKU = try ProfileVocabulary.extendedKeyUsage(profile.extendedKeyUsage, profile: name)
            check(eku == expectedEKU, "extendedKeyUsage", "exactly \(profile.extendedKeyUsage)", "\(eku)")

            let ski = try extensions.subjectKeyIdentifier
            check(
                ski.map { Array($0.keyIdentifier) } == Array(SubjectKeyIdentifier(hash: draft.publicKey).keyIdentifier),
                "subjectKeyIdentifier", "SHA-1 of subjectPublicKey (RFC 5280 §4.2.1.2 method 1)",
                "\(String(describing: ski))")
            let aki = try extensions.authorityKeyIdentifier
            let expectedAKI = issuer?.keyIdentifier ?? ski.map { Array($0.keyIdentifier) }
            check(
                aki?.keyIdentifier.map(Array.init) == expectedAKI && aki?.authorityCertIssuer == nil,
                "authorityKeyIdentifier", "keyIdentifier equal to the issuer's SKI (RFC 5280 §4.2.1.1)",
                "\(String(describing: aki))")

            let constraints = try extensions.nameConstraints
            check(
                constraints == nil
                    || (profile.certificateAuthority
                        && extensions[oid: .X509ExtensionID.nameConstraints]?.critical == true),
                "nameConstraints", "only in CA certificates, critical (RFC 5280 §4.2.1.10)", "present")

            let hardwareNames = try (extensions.subjectAlternativeNames.map { Array($0) } ?? []).compactMap {
                try HardwareModuleName($0)
            }
            switch profile.hardwareModuleName {
            case .required:
                check(hardwareNames.count == 1, "subjectAltName", "one hardwareModuleName", "\(hardwareNames.count)")
            case .optional:
                check(
                    hardwareNames.count <= 1, "subjectAltName", "at most one hardwareModuleName",
                    "\(hardwareNames.count)")
            case .forbidden:
                check(hardwareNames.isEmpty, "subjectAltName", "no hardwareModuleName", "\(hardwareNames.count)")
            }

            let aia = try extensions.authorityInformationAccess
            let crl = try extensions[oid: FleetkeyOID.crlDistributionPoints].map { try CRLDistributionPoints($0) }
            if let issuer {
                let locations = (aia.map { Array($0) } ?? []).map { "\($0.method)=\($0.location)" }
                let expected = DraftBuilder.accessDescriptions(
                    profile.issuerPointers, issuer: issuer.authorityID, urls: policy.urls
                )
                .map { "\($0.method)=\($0.location)" }
                check(
                    locations == expected, "authorityInfoAccess", "the policy's \(profile.issuerPointers) URLs",
                    "\(locations)")
                let expectedScope =
                    profile.issuerPointers.contains("crl")
                    ? policy.crlScope(issuer: issuer.authorityID, serial: Array(draft.serialNumber.bytes)) : nil
                let expectedCRL = expectedScope.map { [policy.crlURL(issuer: issuer.authorityID, scope: $0)] } ?? []
                check(
                    draft.crlScope == expectedScope, "crlScope", "the CRL the policy assigns to this serial",
                    draft.crlScope.map(\.description) ?? "none")
                check(
                    (crl?.points.flatMap(\.uris) ?? []) == expectedCRL, "cRLDistributionPoints",
                    "the issuer's CRL (partition) URL of the policy",
                    "\(String(describing: crl?.points.flatMap(\.uris)))")
            } else {
                check(aia == nil, "authorityInfoAccess", "absent in a self-signed certificate", "present")
                check(crl == nil, "cRLDistributionPoints", "absent in a self-signed certificate", "present")
            }
            check(
                (extensions[oid: FleetkeyOID.ocspNoCheck] != nil) == profile.ocspNoCheck, "ocspNoCheck",
                profile.ocspNoCheck ? "present (RFC 6960 §4.2.2.2.1)" : "absent", "\(!profile.ocspNoCheck)")
        } catch {
            check(false, "extensions", "must decode", "\(error)")
        }
    }
}
