import Foundation
import SwiftASN1
import X509

/// The certificate-path checks of RFC 5280 §6.1 that an ecosystem chain needs, for swift-certificates' `Verifier`.
///
/// swift-certificates' `RFC5280Policy` refuses every directoryName name constraint, and each vendor CA is
/// constrained to `O=<vendor>` by exactly that (DESIGN.md), so Fleetkey checks its own chains with this policy:
/// every certificate valid at `validationTime` (§6.1.3 (a)(2)); every issuer a CA (basicConstraints cA, §4.2.1.9)
/// allowed to sign certificates (keyUsage keyCertSign, §4.2.1.3) within its pathLenConstraint; and the names of every
/// certificate below a name-constrained CA (§4.2.1.10, §6.1.3 (b)-(c)): its subject and each directoryName of its
/// subjectAltName inside one of the permitted directoryName subtrees, if there are any, and inside none of the
/// excluded ones. Signatures and name chaining are the `Verifier`'s own work.
///
/// It fails closed: an extension it needs and cannot read refuses the chain (it is never taken as absent), and a
/// constraint on a name form it does not process refuses any certificate below that carries a name of that form,
/// as §4.2.1.10 requires of a critical name constraints extension.
public struct EcosystemChainPolicy: VerifierPolicy, Sendable {
    public let validationTime: Date

    public init(validationTime: Date) {
        self.validationTime = validationTime
    }

    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.basicConstraints, .X509ExtensionID.keyUsage, .X509ExtensionID.nameConstraints,
        .X509ExtensionID.extendedKeyUsage,
    ]

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult
    {
        let certificates = Array(chain)  // leaf first, root last
        let validationTime = self.validationTime
        for certificate in certificates
        where validationTime < certificate.notValidBefore || validationTime > certificate.notValidAfter {
            return .failsToMeetPolicy(
                reason: "'\(certificate.subject)' is not valid at \(validationTime) (\(certificate.notValidBefore) to "
                    + "\(certificate.notValidAfter))")
        }
        for (position, issuer) in certificates.enumerated().dropFirst() {
            guard case .isCertificateAuthority(let pathLength) = try? issuer.extensions.basicConstraints else {
                return .failsToMeetPolicy(reason: "'\(issuer.subject)' signs certificates but is not a CA")
            }
            let usage: KeyUsage?
            do {
                usage = try issuer.extensions.keyUsage
            } catch {
                return .failsToMeetPolicy(reason: "the keyUsage of '\(issuer.subject)' cannot be read: \(error)")
            }
            if let usage, !usage.keyCertSign {
                return .failsToMeetPolicy(reason: "'\(issuer.subject)' may not sign certificates (keyUsage)")
            }
            // Intermediate CAs below this issuer (the leaf is not one).
            let caBelow = position - 1
            if let pathLength, caBelow > pathLength {
                return .failsToMeetPolicy(
                    reason: "'\(issuer.subject)' allows \(pathLength) CA(s) below it, not \(caBelow)")
            }
            let constraints: NameConstraints?
            do {
                constraints = try issuer.extensions.nameConstraints
            } catch {
                return .failsToMeetPolicy(
                    reason: "the nameConstraints of '\(issuer.subject)' cannot be read (\(error)): the names it may "
                        + "certify are unknown, so nothing below it is trusted")
            }
            guard let constraints else { continue }
            for (below, certificate) in certificates[..<position].enumerated() {
                // §6.1.3 (b): a self-issued CA certificate inside the path is exempt; the leaf never is.
                if below > 0 && certificate.subject == certificate.issuer { continue }
                if let refusal = Self.nameRefusal(certificate, constraints, issuer: issuer) {
                    return .failsToMeetPolicy(reason: refusal)
                }
            }
        }
        return .meetsPolicy
    }

    /// Why `certificate`'s names break `constraints` (RFC 5280 §6.1.3 (b)-(c)), or `nil` when they do not.
    static func nameRefusal(_ certificate: Certificate, _ constraints: NameConstraints, issuer: Certificate)
        -> String?
    {
        let alternativeNames: SubjectAlternativeNames?
        do {
            alternativeNames = try certificate.extensions.subjectAlternativeNames
        } catch {
            return "the subjectAltName of '\(certificate.subject)' cannot be read (\(error)), so it cannot be checked "
                + "against the name constraints of '\(issuer.subject)'"
        }
        let alternatives = Array(alternativeNames ?? SubjectAlternativeNames([]))
        // §4.2.1.10: directoryName constraints apply to a non-empty subject and to every directoryName alternative.
        var directoryNames = certificate.subject.isEmpty ? [] : [("subject", certificate.subject)]
        for case .directoryName(let name) in alternatives {
            directoryNames.append(("subjectAltName directoryName", name))
        }

        let permitted = constraints.permittedSubtrees.compactMap(Self.directoryName)
        let excluded = constraints.excludedSubtrees.compactMap(Self.directoryName)
        for (field, name) in directoryNames {
            if let subtree = excluded.first(where: { Self.isWithin(name, subtree: $0) }) {
                return "the \(field) '\(name)' of '\(certificate.subject)' is inside the subtree '\(subtree)' that "
                    + "'\(issuer.subject)' excludes"
            }
            if !permitted.isEmpty && !permitted.contains(where: { Self.isWithin(name, subtree: $0) }) {
                return "the \(field) '\(name)' of '\(certificate.subject)' is outside the names '\(issuer.subject)' "
                    + "may certify (\(permitted.map(\.description).joined(separator: " or ")))"
            }
        }

        // Name forms this policy does not process: a constraint on one refuses any certificate carrying that form.
        let unprocessed = Set(
            (constraints.permittedSubtrees + constraints.excludedSubtrees).map(Self.form).filter {
                $0 != "directoryName"
            })
        if let form = alternatives.map(Self.form).first(where: unprocessed.contains) {
            return "'\(issuer.subject)' constrains \(form) names, which Fleetkey does not check, and '"
                + "\(certificate.subject)' carries one in its subjectAltName"
        }
        if unprocessed.contains("rfc822Name"),
            certificate.subject.contains(where: { $0.contains { $0.type == .RDNAttributeType.emailAddress } })
        {
            return "'\(issuer.subject)' constrains rfc822Name names, which Fleetkey does not check, and the subject of "
                + "'\(certificate.subject)' carries an emailAddress (RFC 5280 §4.2.1.10)"
        }
        return nil
    }

    /// Whether `name` lies in the subtree rooted at `subtree`: its leading RDNs equal the subtree's
    /// (RFC 5280 §4.2.1.10, compared as §7.1 says).
    static func isWithin(_ name: DistinguishedName, subtree: DistinguishedName) -> Bool {
        IssuerInfo.isWithin(name, subtree: subtree)
    }

    private static func directoryName(_ name: GeneralName) -> DistinguishedName? {
        if case .directoryName(let directory) = name { return directory }
        return nil
    }

    /// The GeneralName choice `name` is (RFC 5280 §4.2.1.6).
    private static func form(_ name: GeneralName) -> String {
        switch name {
        case .otherName: "otherName"
        case .rfc822Name: "rfc822Name"
        case .dnsName: "dNSName"
        case .x400Address: "x400Address"
        case .directoryName: "directoryName"
        case .ediPartyName: "ediPartyName"
        case .uniformResourceIdentifier: "uniformResourceIdentifier"
        case .ipAddress: "iPAddress"
        case .registeredID: "registeredID"
        }
    }
}
