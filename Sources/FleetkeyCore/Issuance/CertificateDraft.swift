import Foundation
import X509

/// Everything a certificate will say, before it is signed: what the linter checks and the signer signs.
///
/// Keeping the to-be-signed content as a value lets the pre-issuance lint run on exactly what will be
/// signed, and lets nothing be signed that did not pass it.
public struct CertificateDraft: Sendable {
    public var profileName: String
    public var serialNumber: Certificate.SerialNumber
    public var publicKey: Certificate.PublicKey
    public var keySpec: KeySpec
    public var notBefore: Date
    public var notAfter: Date
    public var issuer: DistinguishedName
    public var subject: SubjectName
    public var extensions: Certificate.Extensions
    public var signatureAlgorithm: Certificate.SignatureAlgorithm
    /// The CRL the cRLDistributionPoint in ``extensions`` names, recorded with the certificate; `nil` when none.
    public var crlScope: CRLScope?

    public init(
        profileName: String,
        serialNumber: Certificate.SerialNumber,
        publicKey: Certificate.PublicKey,
        keySpec: KeySpec,
        notBefore: Date,
        notAfter: Date,
        issuer: DistinguishedName,
        subject: SubjectName,
        extensions: Certificate.Extensions,
        signatureAlgorithm: Certificate.SignatureAlgorithm,
        crlScope: CRLScope? = nil
    ) {
        self.profileName = profileName
        self.serialNumber = serialNumber
        self.publicKey = publicKey
        self.keySpec = keySpec
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.issuer = issuer
        self.subject = subject
        self.extensions = extensions
        self.signatureAlgorithm = signatureAlgorithm
        self.crlScope = crlScope
    }

    /// Signs the draft with the issuer's key. Only ``CertificateAuthority`` calls this, after the lint.
    func sign(with key: Certificate.PrivateKey) throws -> Certificate {
        try Certificate(
            version: .v3,
            serialNumber: serialNumber,
            publicKey: publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: issuer,
            subject: try subject.distinguishedName(),
            signatureAlgorithm: signatureAlgorithm,
            extensions: extensions,
            issuerPrivateKey: key
        )
    }
}
