import SwiftASN1
import X509

/// Makes PKCS#10 requests (RFC 2986) for device keys: what a secure element or a simulated device sends.
///
/// The request carries the device's subject and, when known, its hardwareModuleName in an extensionRequest
/// subjectAltName, which is how ``Ecosystem/issueDeviceIdentity(_:by:)`` expects to find it.
public enum RequestBuilder {
    public static func deviceRequest(
        vendor: VendorName,
        serial: DeviceSerial,
        hardwareModule: HardwareModuleName?,
        key: Certificate.PrivateKey
    ) throws -> CertificateSigningRequest {
        let subject = try SubjectName([(.organization, vendor.value), (.serialNumber, serial.value)])
            .distinguishedName()
        var attributes = CertificateSigningRequest.Attributes()
        if let hardwareModule {
            let extensions = try Certificate.Extensions {
                SubjectAlternativeNames([try hardwareModule.generalName()])
            }
            attributes.insert(try .init(ExtensionRequest(extensions: extensions)))
        }
        return try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: key, attributes: attributes,
            signatureAlgorithm: try KeySpec(key.publicKey).signatureAlgorithm)
    }
}

extension RequestBuilder {
    /// An EST enrollment request (RFC 7030 §4.2, docs/est.md): `subject`, for the key that `key` signs with, carrying
    /// the TLS key binding (``TLSKeyBinding``) made by `bindingKey`, the key that authenticates the TLS session. Either
    /// key may sign inside a secure element (``SecureElement/signingKey(inSlot:)``).
    public static func enrollmentRequest(
        subject: DistinguishedName, key: Certificate.PrivateKey, bindingKey: Certificate.PrivateKey
    ) throws -> CertificateSigningRequest {
        let binding = TLSKeyBinding(
            signature: try bindingKey.sign(
                bytes: TLSKeyBinding.message(requestedKey: key.publicKey),
                signatureAlgorithm: try KeySpec(bindingKey.publicKey).signatureAlgorithm
            ).rawRepresentation)
        return try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: key,
            attributes: CertificateSigningRequest.Attributes([try binding.attribute()]),
            signatureAlgorithm: try KeySpec(key.publicKey).signatureAlgorithm)
    }
}

extension CertificateSigningRequest {
    /// The request's DER encoding.
    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
