import SwiftASN1
import X509

/// The proof, inside a PKCS#10 request, that the key which authenticated the TLS session asked for the request's
/// key: what binds an EST enrollment to the identity that made it (RFC 7030 §3.5).
///
/// RFC 7030 binds through tls-unique (RFC 5929) or, under TLS 1.3, an exporter (RFC 9266); swift-nio-ssl exposes
/// neither, so the device signs, inside its secure element and with the key it authenticated the TLS session with
/// (its IDevID key, or its current LDevID key when re-enrolling), the new key's SubjectPublicKeyInfo. The attribute
/// (docs/est.md):
///
/// ```
/// id-fleetkey-tlsKeyBinding ::= { 2 25 5702272524311131528 1 }
/// attribute value: OCTET STRING -- signature over "fleetkey-est-tls-key-binding-v1" || 0x00 || DER(SPKI)
/// ```
/// The signature algorithm is the authenticating key's own (ECDSA with the curve's hash and a DER
/// Ecdsa-Sig-Value, Ed25519, or RSA PKCS#1 v1.5 with SHA-256), so the attribute carries no algorithm to confuse.
/// A stolen request is useless without the authenticating key, and a stolen binding without the new key.
public struct TLSKeyBinding: Sendable, Hashable {
    public var signature: [UInt8]

    public init(signature: [UInt8]) {
        self.signature = signature
    }

    /// The domain-separation prefix of the signed message.
    public static let context: [UInt8] = Array("fleetkey-est-tls-key-binding-v1".utf8) + [0]

    /// What the authenticating key signs: ``context`` followed by the requested key's DER SubjectPublicKeyInfo.
    public static func message(requestedKey: Certificate.PublicKey) -> [UInt8] {
        context + requestedKey.subjectPublicKeyInfoDER
    }

    /// The binding a request carries; `nil` when it has none. More than one, or one that is not a single OCTET
    /// STRING, is malformed.
    public init?(in csr: CertificateSigningRequest) throws(FleetkeyError) {
        let attributes = csr.attributes.filter { $0.oid == FleetkeyOID.tlsKeyBinding }
        guard let attribute = attributes.first else { return nil }
        guard attributes.count == 1, attribute.values.count == 1,
            let octets = try? ASN1OctetString(asn1Any: attribute.values[0]), !octets.bytes.isEmpty
        else {
            throw FleetkeyError(
                .malformedInput,
                "the request's TLS key binding attribute (\(FleetkeyOID.tlsKeyBinding)) must appear once, with one "
                    + "OCTET STRING value (docs/est.md)")
        }
        self.signature = Array(octets.bytes)
    }

    /// The attribute, for a request being built.
    public func attribute() throws -> CertificateSigningRequest.Attribute {
        CertificateSigningRequest.Attribute(
            oid: FleetkeyOID.tlsKeyBinding,
            values: [try ASN1Any(erasing: ASN1OctetString(contentBytes: signature[...]))])
    }

    /// Whether `authenticatingKey` made this binding for `requestedKey`.
    public func verifies(requestedKey: Certificate.PublicKey, authenticatingKey: Certificate.PublicKey) -> Bool {
        guard let algorithm = try? KeySpec(authenticatingKey).signatureAlgorithm else { return false }
        return authenticatingKey.isValidSignature(
            signature, for: Self.message(requestedKey: requestedKey), signatureAlgorithm: algorithm)
    }
}
