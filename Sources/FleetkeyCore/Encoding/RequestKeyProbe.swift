import Foundation
import SwiftASN1
import X509

/// Reads just the key of a PKCS#10 request that swift-certificates refused to parse.
///
/// swift-certificates will not build an RSA public key below 2048 bits, so an RSA-1024 request fails to
/// parse at all. An operator deserves "the key is too small", not "the request is malformed": this probe
/// walks the request's structure (RFC 2986 §4) far enough to find the SubjectPublicKeyInfo and measure an
/// RSA modulus.
///
/// ```
/// CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
/// CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes [0] }
/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }   -- RFC 8017 §A.1.1
/// ```
enum RequestKeyProbe {
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 1, 1]

    /// The RSA modulus size in bits of the request's key, or `nil` when the key is not RSA or not readable.
    static func rsaModulusBits(requestDER: [UInt8]) -> Int? {
        guard let root = try? DER.parse(requestDER),
            case .constructed(let outer) = root.content,
            let info = outer.first(where: { _ in true }),
            case .constructed(let infoNodes) = info.content
        else { return nil }
        let fields = Array(infoNodes)
        guard fields.count >= 3, case .constructed(let spkiNodes) = fields[2].content else { return nil }
        let spki = Array(spkiNodes)
        guard spki.count == 2, case .constructed(let algorithmNodes) = spki[0].content,
            let algorithm = algorithmNodes.first(where: { _ in true }),
            (try? ASN1ObjectIdentifier(derEncoded: algorithm)) == rsaEncryption,
            let bits = try? ASN1BitString(derEncoded: spki[1]),
            let key = try? DER.parse(Array(bits.bytes)),
            case .constructed(let keyNodes) = key.content,
            let modulusNode = keyNodes.first(where: { _ in true }),
            case .primitive(let modulus) = modulusNode.content
        else { return nil }
        let significant = modulus.drop { $0 == 0 }
        guard let top = significant.first else { return 0 }
        return (significant.count - 1) * 8 + (8 - top.leadingZeroBitCount)
    }

    /// The request bytes as DER, whether they came as PEM or DER.
    static func derBytes(_ bytes: [UInt8]) -> [UInt8] {
        guard let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN "),
            let document = try? PEMDocument(pemString: text)
        else { return bytes }
        return document.derBytes
    }
}

extension EcosystemPolicy {
    /// Decodes a PKCS#10 request (PEM or DER) for `profile`. A key too weak to parse (RSA below 2048 bits) is
    /// reported as the algorithm-policy refusal it is, not as a malformed request.
    public func decodeRequest(_ bytes: [UInt8], profile name: String, at date: Date, source: String = "request")
        throws -> CertificateSigningRequest
    {
        do {
            return try PEMOrDER.certificateRequest(bytes, source: source)
        } catch {
            if let bits = RequestKeyProbe.rsaModulusBits(requestDER: RequestKeyProbe.derBytes(bytes)) {
                let profile = try self.profile(name)
                try algorithms.check(.rsa(bits), at: date, profile: name, profileFamilies: profile.allowedAlgorithms)
            }
            throw error
        }
    }
}
