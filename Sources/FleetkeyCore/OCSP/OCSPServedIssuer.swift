import SwiftASN1
import X509

/// One issuing CA the responder answers for, with the delegated responder that signs in its name.
///
/// RFC 6960 §4.2.2.2: a delegated responder's certificate is issued directly by the CA and carries
/// id-kp-OCSPSigning in its extendedKeyUsage; Fleetkey also gives it id-pkix-ocsp-nocheck (§4.2.2.2.1). Those
/// rules are checked here, when the responder is configured, rather than discovered by relying parties. What
/// every response for this CA repeats (the ResponderID, the signature AlgorithmIdentifier, the `certs` field)
/// is encoded once.
public struct OCSPServedIssuer: Sendable {
    /// The registry's authority identifier (`vendor-acme`), passed to the status source.
    public let authorityID: String
    public let caCertificate: Certificate
    public let responderCertificate: Certificate
    let responderKey: Certificate.PrivateKey
    let hashes: OCSPIssuerHashes
    let responderID: OCSPResponderID
    let signatureAlgorithm: Certificate.SignatureAlgorithm
    /// DER of the signature AlgorithmIdentifier.
    let signatureAlgorithmDER: [UInt8]
    /// DER of `certs [0] EXPLICIT SEQUENCE OF Certificate` holding the responder's certificate.
    let certificatesFieldDER: [UInt8]

    public init(
        authorityID: String, caCertificate: Certificate, responderCertificate: Certificate,
        responderKey: Certificate.PrivateKey
    ) throws {
        let name = "the OCSP responder of '\(authorityID)'"
        guard responderKey.publicKey == responderCertificate.publicKey else {
            throw FleetkeyError(
                .configuration, "\(name): the signing key from custody does not match the responder certificate's key")
        }
        guard responderCertificate.issuer == caCertificate.subject,
            caCertificate.publicKey.isValidSignature(responderCertificate.signature, for: responderCertificate)
        else {
            throw FleetkeyError(
                .configuration,
                "\(name): the responder certificate is not issued by the CA it would answer for (RFC 6960 §4.2.2.2 "
                    + "requires a delegated responder certified directly by that CA)")
        }
        guard try responderCertificate.extensions.extendedKeyUsage?.contains(.ocspSigning) == true else {
            throw FleetkeyError(
                .configuration,
                "\(name): the responder certificate lacks id-kp-OCSPSigning in extendedKeyUsage (RFC 6960 §4.2.2.2); "
                    + "issue it with the ocsp-responder profile")
        }
        self.authorityID = authorityID
        self.caCertificate = caCertificate
        self.responderCertificate = responderCertificate
        self.responderKey = responderKey
        self.hashes = try OCSPIssuerHashes(caCertificate)
        self.responderID = try OCSPResponderID(keyOf: responderCertificate.publicKey)
        self.signatureAlgorithm = try KeySpec(responderCertificate.publicKey).signatureAlgorithm
        var serializer = DER.Serializer()
        try serializer.serialize(try SignatureAlgorithmIdentifier(signatureAlgorithm))
        self.signatureAlgorithmDER = serializer.serializedBytes
        serializer = DER.Serializer()
        try serializer.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
            try coder.serializeSequenceOf([responderCertificate])
        }
        self.certificatesFieldDER = serializer.serializedBytes
    }
}
