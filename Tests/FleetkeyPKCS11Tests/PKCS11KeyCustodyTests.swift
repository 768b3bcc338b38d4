import CPKCS11
import Crypto
import FleetkeyCore
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

@testable import FleetkeyPKCS11

@Suite("PKCS#11 key custody on a real SoftHSM2 token")
struct PKCS11KeyCustodyTests {
    func custody(object: String? = nil) throws -> PKCS11KeyCustody {
        try PKCS11KeyCustody(
            generatingIn: try SoftHSM.uri(token: "custody", object: object), allowedModules: SoftHSM.allowedModules,
            environment: SoftHSM.environment())
    }

    @Test("P-256 and P-384 keys are generated on the token and sign what verifies", arguments: [KeySpec.p256, .p384])
    func generateAndSign(spec: KeySpec) async throws {
        let custody = try custody()
        let label = "sign-\(spec)-\(UUID().uuidString.prefix(8))"
        let key = try await custody.generateKey(spec, label: label)
        #expect(key.spec == spec)
        #expect(key.reference.hasPrefix("pkcs11:token=custody;object=\(label);id=%"))
        #expect(key.reference.hasSuffix(";type=private?module-path=\(SoftHSM.modulePath)"))
        #expect(try KeySpec(key.publicKey) == spec)

        let signer = try await custody.signingKey(key.reference)
        #expect(signer.publicKey == key.publicKey)
        #expect(try await custody.publicKey(of: key.reference) == key.publicKey)
        let message = Array("issue me".utf8)
        let signature = try signer.sign(bytes: message, signatureAlgorithm: spec.signatureAlgorithm)
        #expect(
            key.publicKey.isValidSignature(
                signature.rawRepresentation, for: message, signatureAlgorithm: spec.signatureAlgorithm))
        #expect(
            !key.publicKey.isValidSignature(
                signature.rawRepresentation, for: Array("other".utf8), signatureAlgorithm: spec.signatureAlgorithm))
        // The key cannot be serialised: asking is an error, not a leak.
        #expect(throws: FleetkeyError.self) { try signer.serializeAsPEM() }
    }

    @Test("generated keys are sensitive, never extractable and local, and CKA_VALUE is refused")
    func attributes() async throws {
        let custody = try custody()
        let key = try await custody.generateKey(.p256, label: "attributes-\(UUID().uuidString.prefix(8))")
        let report = try custody.keyReport(key.reference)
        #expect(report.attributes.sensitive == true)
        #expect(report.attributes.extractable == false)
        #expect(report.attributes.neverExtractable == true)
        #expect(report.attributes.alwaysSensitive == true)
        #expect(report.attributes.local == true)
        #expect(report.attributes.privateObject == true)
        #expect(report.attributes.onToken == true)
        #expect(report.valueReadable == false)
        #expect(report.custodyProven)
        #expect(report.token.label == "custody")
        #expect(
            report.publicKeyFingerprint == Hex.lower(SHA256.hash(data: key.publicKey.subjectPublicKeyInfoDER)))
        #expect(report.uri == key.reference)
    }

    @Test("the CA engine signs certificates with a token key through Certificate.PrivateKey(custom)")
    func caEngineSignsWithToken() async throws {
        let custody = try PKCS11KeyCustody(
            generatingIn: try SoftHSM.uri(token: "ecosystem"), allowedModules: SoftHSM.allowedModules,
            environment: SoftHSM.environment())
        let throwaway = try await ThrowawayEcosystem.make(custody: custody)
        let root = throwaway.root
        let rootKey = try #require(try await throwaway.registry.authority(id: "root")).keyReference
        #expect(rootKey.hasPrefix("pkcs11:token=ecosystem;object=root;id=%"))
        #expect(root.publicKey.isValidSignature(root.signature, for: root))
        #expect(root.signatureAlgorithm == .ecdsaWithSHA384)
        let vendor = try await throwaway.ecosystem.vendorAuthority(try VendorName("Acme"))
        #expect(root.publicKey.isValidSignature(vendor.certificate.signature, for: vendor.certificate))
        let request = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-P11-1")
        let issued = try await throwaway.ecosystem.issueDeviceIdentity(.init(csr: request.der), by: vendor)
        #expect(vendor.certificate.publicKey.isValidSignature(issued.certificate.signature, for: issued.certificate))
    }

    @Test("a label already on the token is refused; keys are never overwritten")
    func duplicateLabel() async throws {
        let label = "duplicate-\(UUID().uuidString.prefix(8))"
        let custody = try custody(object: label)
        _ = try await custody.generateKey(.p256, label: "ignored")
        let error = try #require(throws: FleetkeyError.self) { try custody.preflight() }
        #expect(error.code == .alreadyExists)
        await #expect(throws: FleetkeyError(.alreadyExists, "")) {
            try await custody.generateKey(.p256, label: "ignored")
        }
    }

    @Test("a destroyed key can no longer sign, even through a signer taken before")
    func destroy() async throws {
        let custody = try custody()
        let key = try await custody.generateKey(.p256, label: "destroy-\(UUID().uuidString.prefix(8))")
        let signer = try await custody.signingKey(key.reference)
        try await custody.destroyKey(key.reference)
        let error = try #require(throws: FleetkeyError.self) {
            try signer.sign(bytes: [1, 2, 3], signatureAlgorithm: .ecdsaWithSHA256)
        }
        #expect(error.code == .custodyUnavailable)
        #expect(error.reason.contains("Nothing was signed"))
        await #expect(throws: FleetkeyError(.notFound, "")) { try await custody.signingKey(key.reference) }
        await #expect(throws: FleetkeyError(.notFound, "")) { try await custody.destroyKey(key.reference) }
    }

    @Test("RSA and Ed25519 keys are refused with a clear error", arguments: [KeySpec.rsa(2048), .ed25519])
    func unsupportedAlgorithms(spec: KeySpec) async throws {
        let custody = try custody()
        await #expect(throws: FleetkeyError(.algorithmNotAllowed, "")) {
            try await custody.generateKey(spec, label: "nope")
        }
    }

    @Test("a key imported into the token is reported as not proven")
    func importedKeyNotProven() async throws {
        let uri = try SoftHSM.uri(token: "imports", object: "imported-\(UUID().uuidString.prefix(8))")
        let custody = try PKCS11KeyCustody(allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment())
        try ImportedKey.write(P256.Signing.PrivateKey(), uri: uri, custody: custody)
        let report = try custody.keyReport(uri.description)
        #expect(report.attributes.local == false)
        #expect(!report.custodyProven)
        #expect(report.findings.contains { $0.contains("CKA_LOCAL") })
    }
}

/// Puts an existing key pair on a token with C_CreateObject: an import, which is exactly what a key "born inside"
/// must not be. Used to prove that custody reports and attestations tell the difference.
enum ImportedKey {
    static func write(_ key: P256.Signing.PrivateKey, uri: PKCS11URI, custody: PKCS11KeyCustody) throws {
        let (token, pin) = try custody.connect(uri)
        let label = try #require(uri.object)
        let id = Array(SHA256.hash(data: key.publicKey.x963Representation).prefix(8))
        var point = DER.Serializer()
        try point.serialize(ASN1OctetString(contentBytes: ArraySlice(key.publicKey.x963Representation)))
        let common: [PKCS11Attribute] = [
            .ulong(CKA_KEY_TYPE, CKK_EC), .bool(CKA_TOKEN, true), .text(CKA_LABEL, label), .bytes(CKA_ID, id),
            .bytes(CKA_EC_PARAMS, ECCurve.p256.parameters),
        ]
        try token.withSession(pin: pin, "import a key") { session in
            _ = try session.createObject(
                common + [
                    .ulong(CKA_CLASS, CKO_PRIVATE_KEY), .bool(CKA_PRIVATE, true), .bool(CKA_SENSITIVE, true),
                    .bool(CKA_EXTRACTABLE, false), .bool(CKA_SIGN, true),
                    .bytes(CKA_VALUE, Array(key.rawRepresentation)),
                ])
            _ = try session.createObject(
                common + [
                    .ulong(CKA_CLASS, CKO_PUBLIC_KEY), .bool(CKA_VERIFY, true),
                    .bytes(CKA_EC_POINT, point.serializedBytes),
                ])
        }
    }
}
