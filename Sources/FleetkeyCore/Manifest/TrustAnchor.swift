import Foundation
import X509

/// The ecosystem root as a device owner's registry keeps it: trusted, with no key in custody.
public enum TrustAnchor {
    /// The authority id the root has in every registry.
    public static let authorityID = "root"
    /// The key reference of a root whose private key is elsewhere (with the ecosystem's operator).
    public static let keyReference = "none:trust-anchor"

    /// Refuses anything but a self-signed CA certificate: a trust anchor is an ecosystem root.
    public static func check(_ root: Certificate) throws {
        let isCA: Bool
        if case .isCertificateAuthority = try? root.extensions.basicConstraints { isCA = true } else { isCA = false }
        guard root.subject == root.issuer, root.publicKey.isValidSignature(root.signature, for: root), isCA else {
            throw FleetkeyError(
                .invalidArgument,
                "a trust anchor must be a self-signed CA certificate (an ecosystem root); '\(root.subject)' is not")
        }
    }

    /// The authority, certificate and key records of `root` for ``RegistryStore/createRoot(_:certificate:key:events:)``.
    public static func records(_ root: Certificate, at now: Date) throws
        -> (authority: AuthorityRecord, certificate: CertificateRecord, key: KeyRecord)
    {
        let der = try root.derBytes()
        let spki = root.publicKey.subjectPublicKeyInfoDER
        let key = KeyRecord(
            fingerprint: KeyRecord.fingerprint(ofSubjectPublicKeyInfo: spki), subjectPublicKeyInfo: spki,
            algorithm: try KeySpec(root.publicKey), custody: .external, location: nil, createdAt: now)
        return (
            AuthorityRecord(
                id: authorityID, kind: .root, vendor: nil, certificateDER: der, keyReference: keyReference,
                algorithm: try KeySpec(root.publicKey), createdAt: now),
            CertificateRecord(
                issuer: authorityID, serial: root.serialNumber.hexString, profile: CertificateProfile.Name.root,
                subject: root.subject.description, notBefore: root.notValidBefore, notAfter: root.notValidAfter,
                keyFingerprint: key.fingerprint, device: nil, der: der, status: .valid, issuedAt: now, crlScope: nil),
            key
        )
    }
}
