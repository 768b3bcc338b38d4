import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

@testable import FleetkeyCore

/// The ecosystem chain policy on chains built here with swift-certificates: root, a name-constrained CA, a leaf.
///
/// Each refusal is one way a CA's name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b)-(c)) used to be skipped or only
/// half applied: a CA certificate Fleetkey cannot read as an issuer (no subjectKeyIdentifier), constraints it cannot
/// decode, excluded subtrees, directoryNames in the subjectAltName, and constraints on name forms it does not check.
@Suite("Ecosystem chain policy: name constraints fail closed")
struct EcosystemChainPolicyTests {
    static let now = Date()
    static let rootKey = P256.Signing.PrivateKey()
    static let caKey = P256.Signing.PrivateKey()
    static let leafKey = P256.Signing.PrivateKey()
    static let rootName = try! DistinguishedName { CommonName("Chain Test Root") }
    static let caName = try! DistinguishedName {
        OrganizationName("Acme")
        CommonName("Acme Issuing CA")
    }

    static func organization(_ organization: String, unit: String? = nil, serial: String = "SN-1") throws
        -> DistinguishedName
    {
        typealias Attribute = RelativeDistinguishedName.Attribute
        var rdns = [
            RelativeDistinguishedName(Attribute(type: .RDNAttributeType.organizationName, utf8String: organization))
        ]
        if let unit {
            rdns.append(
                RelativeDistinguishedName(Attribute(type: .RDNAttributeType.organizationalUnitName, utf8String: unit)))
        }
        rdns.append(
            RelativeDistinguishedName(try Attribute(type: [2, 5, 4, 5], printableString: serial)))
        return DistinguishedName(rdns)
    }

    static func certificate(
        subject: DistinguishedName, issuer: DistinguishedName, key: P256.Signing.PrivateKey,
        issuerKey: P256.Signing.PrivateKey, extensions: Certificate.Extensions
    ) throws -> Certificate {
        try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(3600), issuer: issuer,
            subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(issuerKey))
    }

    static let root: Certificate = try! certificate(
        subject: rootName, issuer: rootName, key: rootKey, issuerKey: rootKey,
        extensions: try! Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 1))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: .init(rootKey.publicKey))
        })

    /// The vendor CA under the root: its name constraints as given, raw when `rawNameConstraints` is set, and a
    /// subjectKeyIdentifier unless `keyIdentifier` is false.
    static func vendorCA(
        _ constraints: NameConstraints?, rawNameConstraints: [UInt8]? = nil, keyIdentifier: Bool = true
    ) throws -> Certificate {
        var extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
        }
        if keyIdentifier {
            try extensions.append(
                Certificate.Extension(SubjectKeyIdentifier(hash: .init(caKey.publicKey)), critical: false))
        }
        if let constraints { try extensions.append(Certificate.Extension(constraints, critical: true)) }
        if let rawNameConstraints {
            try extensions.append(
                Certificate.Extension(
                    oid: .X509ExtensionID.nameConstraints, critical: true, value: rawNameConstraints[...]))
        }
        return try certificate(
            subject: caName, issuer: rootName, key: caKey, issuerKey: rootKey, extensions: extensions)
    }

    static func leaf(_ subject: DistinguishedName, alternativeNames: [GeneralName]? = nil, rawSAN: [UInt8]? = nil)
        throws -> Certificate
    {
        var extensions = try Certificate.Extensions {
            Critical(KeyUsage(digitalSignature: true))
        }
        if let alternativeNames {
            try extensions.append(Certificate.Extension(SubjectAlternativeNames(alternativeNames), critical: false))
        }
        if let rawSAN {
            try extensions.append(
                Certificate.Extension(oid: .X509ExtensionID.subjectAlternativeName, critical: false, value: rawSAN[...])
            )
        }
        return try certificate(subject: subject, issuer: caName, key: leafKey, issuerKey: caKey, extensions: extensions)
    }

    /// The policy's verdict on leaf → ca → root: `nil` when it passes, else the reasons it gave.
    static func refusal(_ leaf: Certificate, _ ca: Certificate) async -> String? {
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            EcosystemChainPolicy(validationTime: now)
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore([ca])) {
        case .validCertificate: return nil
        case .couldNotValidate(let failures):
            return failures.map { "\($0.policyFailureReason)" }.joined(separator: "; ")
        }
    }

    static let acmeOnly = NameConstraints(permittedSubtrees: [
        .directoryName(try! organization("Acme", serial: "x").prefix1)
    ])

    @Test("control: a leaf inside the permitted subtree passes, one outside it is refused")
    func permittedSubtree() async throws {
        let ca = try Self.vendorCA(Self.acmeOnly)
        #expect(await Self.refusal(try Self.leaf(try Self.organization("Acme")), ca) == nil)
        let outside = try #require(await Self.refusal(try Self.leaf(try Self.organization("Evil")), ca))
        #expect(outside.contains("outside the names"), "\(outside)")
    }

    @Test("a CA certificate without a subjectKeyIdentifier is still held to its name constraints")
    func issuerWithoutKeyIdentifier() async throws {
        let ca = try Self.vendorCA(Self.acmeOnly, keyIdentifier: false)
        let reason = try #require(await Self.refusal(try Self.leaf(try Self.organization("Evil")), ca))
        #expect(reason.contains("outside the names"), "\(reason)")
    }

    @Test("name constraints that cannot be decoded refuse the chain instead of being skipped")
    func undecodableConstraints() async throws {
        // An empty NameConstraints SEQUENCE: RFC 5280 §4.2.1.10 requires at least one of its two fields.
        let ca = try Self.vendorCA(nil, rawNameConstraints: [0x30, 0x00])
        let reason = try #require(await Self.refusal(try Self.leaf(try Self.organization("Acme")), ca))
        #expect(reason.contains("nameConstraints") && reason.contains("cannot be read"), "\(reason)")
    }

    @Test("a subject inside an excluded subtree is refused, with or without permitted subtrees")
    func excludedSubtree() async throws {
        let blocked = DistinguishedName(Array(try Self.organization("Acme", unit: "Blocked")).prefix(2))
        let both = try Self.vendorCA(
            NameConstraints(
                permittedSubtrees: Self.acmeOnly.permittedSubtrees, excludedSubtrees: [.directoryName(blocked)]))
        let leaf = try Self.leaf(try Self.organization("Acme", unit: "Blocked"))
        let reason = try #require(await Self.refusal(leaf, both))
        #expect(reason.contains("excludes"), "\(reason)")
        #expect(await Self.refusal(try Self.leaf(try Self.organization("Acme", unit: "Open")), both) == nil)

        let excludedOnly = try Self.vendorCA(
            NameConstraints(excludedSubtrees: [.directoryName(try Self.organization("Evil", serial: "x").prefix1)]))
        let evil = try #require(await Self.refusal(try Self.leaf(try Self.organization("Evil")), excludedOnly))
        #expect(evil.contains("excludes"), "\(evil)")
    }

    @Test("directoryNames in the subjectAltName are held to the permitted and excluded subtrees")
    func alternativeDirectoryNames() async throws {
        let ca = try Self.vendorCA(
            NameConstraints(
                permittedSubtrees: Self.acmeOnly.permittedSubtrees,
                excludedSubtrees: [
                    .directoryName(DistinguishedName(Array(try Self.organization("Acme", unit: "Blocked")).prefix(2)))
                ]))
        let outside = try Self.leaf(
            try Self.organization("Acme"), alternativeNames: [.directoryName(try Self.organization("Evil"))])
        let reason = try #require(await Self.refusal(outside, ca))
        #expect(reason.contains("subjectAltName directoryName") && reason.contains("outside"), "\(reason)")
        let excluded = try Self.leaf(
            try Self.organization("Acme"),
            alternativeNames: [.directoryName(try Self.organization("Acme", unit: "Blocked"))])
        let excludedReason = try #require(await Self.refusal(excluded, ca))
        #expect(excludedReason.contains("subjectAltName directoryName") && excludedReason.contains("excludes"))
        let inside = try Self.leaf(
            try Self.organization("Acme"),
            alternativeNames: [.directoryName(try Self.organization("Acme", unit: "Open"))])
        #expect(await Self.refusal(inside, ca) == nil)
    }

    @Test("a subjectAltName that cannot be decoded below a constrained CA is refused")
    func undecodableAlternativeNames() async throws {
        let ca = try Self.vendorCA(Self.acmeOnly)
        // A SEQUENCE holding one [4] directoryName whose content is not a Name.
        let leaf = try Self.leaf(try Self.organization("Acme"), rawSAN: [0x30, 0x04, 0xA4, 0x02, 0x05, 0x00])
        let reason = try #require(await Self.refusal(leaf, ca))
        #expect(reason.contains("subjectAltName") && reason.contains("cannot be read"), "\(reason)")
    }

    @Test("a constraint on a name form Fleetkey does not check refuses a leaf that carries that form")
    func unprocessedNameForm() async throws {
        let ca = try Self.vendorCA(NameConstraints(permittedDNSDomains: ["acme.example"]))
        let leaf = try Self.leaf(try Self.organization("Acme"), alternativeNames: [.dnsName("evil.example")])
        let reason = try #require(await Self.refusal(leaf, ca))
        #expect(reason.contains("dNSName"), "\(reason)")
        // A leaf with no name of that form is not affected by it.
        #expect(await Self.refusal(try Self.leaf(try Self.organization("Acme")), ca) == nil)
    }
}

extension DistinguishedName {
    /// The first RDN alone: the subtree `O=<vendor>` a vendor CA is constrained to.
    fileprivate var prefix1: DistinguishedName { DistinguishedName(Array(self).prefix(1)) }
}
