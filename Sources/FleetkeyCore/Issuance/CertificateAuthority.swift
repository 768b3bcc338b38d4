import Foundation
import X509

/// An issuing CA ready to sign: its certificate, what building needs to know of it, and its signing key.
///
/// ``issue(_:now:)`` is the only path to a signature in Fleetkey: it lints the draft against its profile
/// and signs only a draft with no findings.
public struct CertificateAuthority: Sendable {
    public let id: String
    public let certificate: Certificate
    public let info: IssuerInfo
    public let keySpec: KeySpec
    let signingKey: Certificate.PrivateKey
    let linter: ProfileLinter

    public init(id: String, certificate: Certificate, signingKey: Certificate.PrivateKey, policy: EcosystemPolicy)
        throws
    {
        self.id = id
        self.certificate = certificate
        self.info = try IssuerInfo(authorityID: id, certificate: certificate)
        self.keySpec = try KeySpec(certificate.publicKey)
        self.signingKey = signingKey
        self.linter = ProfileLinter(policy: policy)
        guard signingKey.publicKey == certificate.publicKey else {
            throw FleetkeyError(
                .configuration, "the key in custody for '\(id)' does not match its CA certificate's public key")
        }
    }

    /// Lints the draft and, when it is clean, signs it.
    public func issue(_ draft: CertificateDraft, now: Date) throws -> Certificate {
        try Self.lintAndSign(draft, issuer: info, key: signingKey, linter: linter, now: now)
    }

    static func lintAndSign(
        _ draft: CertificateDraft, issuer: IssuerInfo?, key: Certificate.PrivateKey, linter: ProfileLinter, now: Date
    ) throws -> Certificate {
        let findings = linter.lint(draft, issuer: issuer, now: now)
        guard findings.isEmpty else {
            throw FleetkeyError(
                .lintFailed,
                "pre-issuance lint refused the \(draft.profileName) certificate; nothing was signed:\n  - "
                    + findings.map(\.description).joined(separator: "\n  - "))
        }
        return try draft.sign(with: key)
    }
}
