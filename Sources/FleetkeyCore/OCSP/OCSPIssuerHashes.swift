import SwiftASN1
import X509

/// The two things a CertID hashes about an issuing CA (RFC 6960 §4.1.1): the DER of its Name, exactly as its
/// certificate carries it, and its subjectPublicKey bits.
///
/// Digests under every ``OCSPHashAlgorithm`` are computed once here, so the responder matches a request's
/// CertID without hashing anything on the hot path.
struct OCSPIssuerHashes: Sendable {
    let nameDER: [UInt8]
    let keyBits: [UInt8]
    private let digests: [OCSPHashAlgorithm: (name: [UInt8], key: [UInt8])]

    init(_ certificate: Certificate) throws {
        nameDER = try Self.subjectDER(of: certificate)
        keyBits = try SubjectPublicKeyBits.bits(of: certificate.publicKey)
        var digests: [OCSPHashAlgorithm: (name: [UInt8], key: [UInt8])] = [:]
        for algorithm in OCSPHashAlgorithm.allCases {
            digests[algorithm] = (algorithm.hash(nameDER), algorithm.hash(keyBits))
        }
        self.digests = digests
    }

    func nameHash(_ algorithm: OCSPHashAlgorithm) -> [UInt8] { digests[algorithm]!.name }
    func keyHash(_ algorithm: OCSPHashAlgorithm) -> [UInt8] { digests[algorithm]!.key }

    /// Whether a CertID names this issuer: same digest of the name and of the key.
    func matches(_ certID: OCSPCertID) -> Bool {
        guard let algorithm = certID.hashAlgorithm.hashAlgorithm, let digest = digests[algorithm] else { return false }
        return certID.issuerNameHash == digest.name && certID.issuerKeyHash == digest.key
    }

    /// The subject field of the TBSCertificate as encoded (RFC 5280 §4.1):
    ///
    /// ```
    /// TBSCertificate  ::=  SEQUENCE  {
    ///      version         [0]  EXPLICIT Version DEFAULT v1,
    ///      serialNumber         CertificateSerialNumber,
    ///      signature            AlgorithmIdentifier,
    ///      issuer               Name,
    ///      validity             Validity,
    ///      subject              Name, ... }
    /// ```
    static func subjectDER(of certificate: Certificate) throws -> [UInt8] {
        let root = try DER.parse(Array(certificate.tbsCertificateBytes))
        guard case .constructed(let children) = root.content else {
            throw ASN1Error.invalidASN1Object(reason: "TBSCertificate is not a SEQUENCE")
        }
        var fields = Array(children)
        if let first = fields.first, first.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
            fields.removeFirst()
        }
        guard fields.count > 4, fields[4].identifier == .sequence else {
            throw ASN1Error.invalidASN1Object(reason: "TBSCertificate has no subject Name")
        }
        return Array(fields[4].encodedBytes)
    }
}
