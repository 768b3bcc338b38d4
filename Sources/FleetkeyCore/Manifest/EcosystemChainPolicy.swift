import Foundation
import SwiftASN1
import X509

/// The certificate-path checks of RFC 5280 §6.1 that an ecosystem chain needs, for swift-certificates' `Verifier`.
///
/// swift-certificates' `RFC5280Policy` refuses every directoryName name constraint, and each vendor CA is
/// constrained to `O=<vendor>` by exactly that (DESIGN.md), so Fleetkey checks its own chains with this policy:
/// every certificate valid at `validationTime` (§6.1.3 (a)(2)); every issuer a CA (basicConstraints cA, §4.2.1.9)
/// allowed to sign certificates (keyUsage keyCertSign, §4.2.1.3) within its pathLenConstraint; and every subject
/// below a name-constrained CA inside its permitted directoryName subtrees (§4.2.1.10). Signatures and name
/// chaining are the `Verifier`'s own work.
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
            if let usage = try? issuer.extensions.keyUsage, !usage.keyCertSign {
                return .failsToMeetPolicy(reason: "'\(issuer.subject)' may not sign certificates (keyUsage)")
            }
            // Intermediate CAs below this issuer (the leaf is not one).
            let caBelow = position - 1
            if let pathLength, caBelow > pathLength {
                return .failsToMeetPolicy(
                    reason: "'\(issuer.subject)' allows \(pathLength) CA(s) below it, not \(caBelow)")
            }
            guard let constrained = try? IssuerInfo(authorityID: "chain", certificate: issuer) else { continue }
            for subject in certificates[..<position].map(\.subject) where !constrained.permits(subject) {
                return .failsToMeetPolicy(
                    reason: "'\(subject)' is outside the names '\(issuer.subject)' may certify "
                        + "(\(constrained.permittedSubtrees.map(\.description).joined(separator: " or ")))")
            }
        }
        return .meetsPolicy
    }
}
