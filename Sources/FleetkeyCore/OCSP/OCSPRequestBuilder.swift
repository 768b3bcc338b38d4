import SwiftASN1
import X509

/// Builds OCSP requests as a relying party would (RFC 6960 §4.1.1, profiled by RFC 5019 §2.1): for tests, the
/// benchmark's load generator, and any Fleetkey client that checks a certificate's status.
public enum OCSPRequestBuilder {
    /// The CertID of the certificate with `serial` issued by `issuer`.
    public static func certID(
        issuer: Certificate, serial: Certificate.SerialNumber, hash: OCSPHashAlgorithm = .sha1,
        nullParameters: Bool = true
    ) throws -> OCSPCertID {
        let hashes = try OCSPIssuerHashes(issuer)
        return OCSPCertID(
            hashAlgorithm: OCSPHashAlgorithmIdentifier(hash, nullParameters: nullParameters),
            issuerNameHash: hashes.nameHash(hash), issuerKeyHash: hashes.keyHash(hash), serialNumber: serial)
    }

    /// An unsigned request about `serials` (at least one) of `issuer`, with a nonce when one is given.
    public static func request(
        issuer: Certificate, serials: [Certificate.SerialNumber], hash: OCSPHashAlgorithm = .sha1,
        nonce: OCSPNonce? = nil
    ) throws -> OCSPRequest {
        guard !serials.isEmpty else {
            throw FleetkeyError(.invalidArgument, "an OCSP request must ask about at least one serial")
        }
        let list = try serials.map { OCSPSingleRequest(certID: try certID(issuer: issuer, serial: $0, hash: hash)) }
        let extensions = try nonce.map { try Certificate.Extensions([try $0.makeCertificateExtension()]) }
        return try OCSPRequest(tbsRequest: OCSPTBSRequest(requestList: list, requestExtensions: extensions))
    }

    /// The DER of an unsigned request about one serial, as `openssl ocsp -issuer CA -serial S -reqout` writes it.
    public static func requestDER(
        issuer: Certificate, serial: Certificate.SerialNumber, hash: OCSPHashAlgorithm = .sha1,
        nonce: OCSPNonce? = nil
    ) throws -> [UInt8] {
        try request(issuer: issuer, serials: [serial], hash: hash, nonce: nonce).derBytes()
    }
}
