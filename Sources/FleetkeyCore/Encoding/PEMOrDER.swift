import SwiftASN1
import X509

/// Reads objects that arrive either as PEM text or as raw DER, as operators' tools produce both.
public enum PEMOrDER {
    /// Decodes a PKCS#10 request (RFC 2986) from PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or DER.
    public static func certificateRequest(_ bytes: [UInt8], source: String = "request") throws(FleetkeyError)
        -> CertificateSigningRequest
    {
        do {
            if let pem = try pemDocument(bytes) {
                guard pem.discriminator == "CERTIFICATE REQUEST" || pem.discriminator == "NEW CERTIFICATE REQUEST"
                else {
                    throw FleetkeyError(
                        .malformedInput,
                        "\(source) is a PEM '\(pem.discriminator)', not a 'CERTIFICATE REQUEST' (PKCS#10)")
                }
                return try CertificateSigningRequest(derEncoded: pem.derBytes)
            }
            return try CertificateSigningRequest(derEncoded: bytes)
        } catch let error as FleetkeyError {
            throw error
        } catch {
            throw FleetkeyError(
                .malformedInput,
                "\(source) is neither a PEM nor a DER PKCS#10 certificate request (RFC 2986): \(error)")
        }
    }

    /// Decodes a certificate from PEM or DER.
    public static func certificate(_ bytes: [UInt8], source: String = "certificate") throws(FleetkeyError)
        -> Certificate
    {
        do {
            if let pem = try pemDocument(bytes) {
                guard pem.discriminator == "CERTIFICATE" else {
                    throw FleetkeyError(.malformedInput, "\(source) is a PEM '\(pem.discriminator)', not a CERTIFICATE")
                }
                return try Certificate(derEncoded: pem.derBytes)
            }
            return try Certificate(derEncoded: bytes)
        } catch let error as FleetkeyError {
            throw error
        } catch {
            throw FleetkeyError(.malformedInput, "\(source) is neither a PEM nor a DER X.509 certificate: \(error)")
        }
    }

    /// The DER of a PEM document with `label` (such as `X509 CRL`), or `bytes` themselves when they are not PEM.
    public static func der(_ bytes: [UInt8], label: String, source: String) throws(FleetkeyError) -> [UInt8] {
        do {
            guard let pem = try pemDocument(bytes) else { return bytes }
            guard pem.discriminator == label else {
                throw FleetkeyError(.malformedInput, "\(source) is a PEM '\(pem.discriminator)', not '\(label)'")
            }
            return pem.derBytes
        } catch let error as FleetkeyError {
            throw error
        } catch {
            throw FleetkeyError(.malformedInput, "\(source) is not valid PEM: \(error)")
        }
    }

    /// The PEM document in `bytes`, or `nil` when the bytes do not look like PEM at all.
    private static func pemDocument(_ bytes: [UInt8]) throws -> PEMDocument? {
        guard let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN ") else { return nil }
        return try PEMDocument(pemString: text)
    }
}

extension Certificate {
    /// The certificate as PEM text.
    public func pemString() throws -> String {
        try serializeAsPEM().pemString
    }

    /// The certificate's DER encoding.
    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
