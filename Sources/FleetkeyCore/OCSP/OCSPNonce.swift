import SwiftASN1
import X509

/// The nonce extension, RFC 6960 §4.4.1 as replaced by RFC 9654 §2.1 (which obsoletes RFC 8954): binds a response
/// to the request that carried it, so it cannot be replayed.
///
/// ```
/// id-pkix-ocsp-nonce     OBJECT IDENTIFIER ::= { id-pkix-ocsp 2 }
/// Nonce ::= OCTET STRING(SIZE(1..128))
/// ```
/// The extension's extnValue holds the DER of the Nonce OCTET STRING (so the nonce is wrapped twice, as openssl
/// writes it). RFC 9654: a server MUST reject a nonce of 0 or more than 128 octets with malformedRequest (RFC 8954
/// said 32; clients SHOULD use 32). A response echoes the request's nonce; such a response is signed on the spot.
public struct OCSPNonce: Hashable, Sendable, CertificateExtensionConvertible {
    public static let allowedLengths = 1...128

    public let value: [UInt8]

    public init(_ value: [UInt8]) throws {
        guard Self.allowedLengths.contains(value.count) else {
            throw FleetkeyError(
                .malformedInput,
                "an OCSP nonce has 1 to 128 octets (RFC 9654 §2.1), not \(value.count)")
        }
        self.value = value
    }

    /// Reads the nonce from its extension.
    public init(_ ext: Certificate.Extension) throws {
        guard ext.oid == FleetkeyOID.ocspNonce else {
            throw FleetkeyError(.malformedInput, "extension \(ext.oid) is not id-pkix-ocsp-nonce")
        }
        let octets: ASN1OctetString
        do {
            octets = try ASN1OctetString(derEncoded: ext.value)
        } catch {
            throw FleetkeyError(
                .malformedInput, "the id-pkix-ocsp-nonce extension value is not a DER OCTET STRING (RFC 9654 §2.1)")
        }
        try self.init(Array(octets.bytes))
    }

    /// The nonce of a request, if it carries one.
    public init?(of request: OCSPTBSRequest) throws {
        guard let ext = request.requestExtensions?[oid: FleetkeyOID.ocspNonce] else { return nil }
        try self.init(ext)
    }

    /// RFC 6960 §4.4: extensions are non-critical; a nonce is too.
    public func makeCertificateExtension() throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.serialize(ASN1OctetString(contentBytes: value[...]))
        return Certificate.Extension(
            oid: FleetkeyOID.ocspNonce, critical: false, value: serializer.serializedBytes[...])
    }
}
