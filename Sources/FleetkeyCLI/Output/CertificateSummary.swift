import Crypto
import FleetkeyCore
import Foundation
import SwiftASN1
import X509

/// What `cert show` and `issue --json` say about a certificate.
struct CertificateSummary: Encodable {
    struct RegistryView: Encodable {
        var authority: String
        var status: String
        var profile: String
        var device: String?
        var issuedAt: Date
    }

    var subject: String
    var issuer: String
    var serial: String
    var notBefore: Date
    var notAfter: Date
    var publicKey: String
    var signatureAlgorithm: String
    var sha256Fingerprint: String
    var subjectKeyIdentifier: String?
    var authorityKeyIdentifier: String?
    var basicConstraints: String?
    var keyUsage: String?
    var extendedKeyUsage: [String]?
    var hardwareModuleName: [String: String]?
    var ocsp: [String]
    var caIssuers: [String]
    var crlDistributionPoints: [String]
    var nameConstraints: [String]?
    var registry: RegistryView?
    var pem: String?

    init(_ certificate: Certificate, registry: CertificateRecord?) throws {
        let extensions = certificate.extensions
        subject = certificate.subject.description
        issuer = certificate.issuer.description
        serial = certificate.serialNumber.hexString
        notBefore = certificate.notValidBefore
        notAfter = certificate.notValidAfter
        publicKey = (try? KeySpec(certificate.publicKey).description) ?? "unknown"
        signatureAlgorithm = "\(certificate.signatureAlgorithm)"
        sha256Fingerprint = Hex.lower(SHA256.hash(data: try certificate.derBytes()))
        subjectKeyIdentifier = try extensions.subjectKeyIdentifier.map { Hex.lower($0.keyIdentifier) }
        authorityKeyIdentifier = try extensions.authorityKeyIdentifier?.keyIdentifier.map { Hex.lower($0) }
        basicConstraints = try extensions.basicConstraints.map { "\($0)" }
        keyUsage = try extensions.keyUsage.map { "\($0)" }
        extendedKeyUsage = try extensions.extendedKeyUsage.map { $0.map { "\($0)" } }
        for name in try extensions.subjectAlternativeNames.map({ Array($0) }) ?? [] {
            if let hardware = try HardwareModuleName(name) {
                hardwareModuleName = ["hwType": hardware.hardwareType.description, "hwSerialNum": hardware.serialText]
            }
        }
        let access = try extensions.authorityInformationAccess.map { Array($0) } ?? []
        ocsp = access.filter { $0.method == .ocspServer }.map { Self.uri($0.location) }
        caIssuers = access.filter { $0.method == .issuingCA }.map { Self.uri($0.location) }
        crlDistributionPoints =
            try extensions[oid: FleetkeyOID.crlDistributionPoints].map {
                try CRLDistributionPoints($0).points.flatMap(\.uris)
            } ?? []
        nameConstraints = try extensions.nameConstraints.map { $0.permittedSubtrees.map { "permitted \($0)" } }
        self.registry = registry.map {
            RegistryView(
                authority: $0.issuer, status: $0.status.rawValue, profile: $0.profile, device: $0.device?.description,
                issuedAt: $0.issuedAt)
        }
    }

    private static func uri(_ name: GeneralName) -> String {
        if case .uniformResourceIdentifier(let uri) = name { return uri }
        return "\(name)"
    }

    var text: String {
        var lines = [
            "Subject:        \(subject)",
            "Issuer:         \(issuer)",
            "Serial:         \(serial)",
            "Validity:       \(ISO8601DateFormatter().string(from: notBefore)) to \(ISO8601DateFormatter().string(from: notAfter))",
            "Public key:     \(publicKey)",
            "Signature:      \(signatureAlgorithm)",
            "SHA-256:        \(sha256Fingerprint)",
        ]
        if let basicConstraints { lines.append("Basic:          \(basicConstraints)") }
        if let keyUsage { lines.append("Key usage:      \(keyUsage)") }
        if let extendedKeyUsage { lines.append("Extended usage: \(extendedKeyUsage.joined(separator: ", "))") }
        if let hardwareModuleName {
            lines.append(
                "Hardware:       \(hardwareModuleName["hwSerialNum"] ?? "") (hwType \(hardwareModuleName["hwType"] ?? ""))"
            )
        }
        if let nameConstraints { lines.append("Constraints:    \(nameConstraints.joined(separator: "; "))") }
        if !ocsp.isEmpty { lines.append("OCSP:           \(ocsp.joined(separator: ", "))") }
        if !caIssuers.isEmpty { lines.append("CA issuers:     \(caIssuers.joined(separator: ", "))") }
        if !crlDistributionPoints.isEmpty {
            lines.append("CRL:            \(crlDistributionPoints.joined(separator: ", "))")
        }
        if let registry {
            lines.append(
                "Registry:       \(registry.status), issued by \(registry.authority) under profile \(registry.profile)"
                    + (registry.device.map { " for device \($0)" } ?? ""))
        } else {
            lines.append("Registry:       not found in this registry")
        }
        return lines.joined(separator: "\n")
    }
}
