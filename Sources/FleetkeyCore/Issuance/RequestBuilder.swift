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

extension CertificateSigningRequest {
    /// The request's DER encoding.
    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
