import FleetkeyCore
import FleetkeyCustody
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

@Suite("Encrypted software keystore")
struct SoftwareKeystoreTests {
    func keystore(_ directory: TemporaryDirectory, _ passphrase: String = "right passphrase") throws -> SoftwareKeystore
    {
        try SoftwareKeystore(
            directory: directory.url.appendingPathComponent("keys"), passphrase: Passphrase(passphrase),
            cost: ScryptCost(log2N: 14))
    }

    @Test("a key sealed in one process opens in another with the passphrase, for every algorithm")
    func roundTrip() async throws {
        let directory = try TemporaryDirectory()
        for spec in [KeySpec.p256, .p384, .p521, .ed25519, .rsa(2048)] {
            let created = try await keystore(directory).generateKey(spec, label: "k-\(spec)")
            let reopened = try await keystore(directory).signingKey(created.reference)
            #expect(reopened.publicKey == created.publicKey)
            let name = try DistinguishedName { CommonName("k") }
            let signed = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: created.publicKey, notValidBefore: Date(),
                notValidAfter: Date().addingTimeInterval(60), issuer: name, subject: name,
                signatureAlgorithm: spec.signatureAlgorithm, extensions: .init(), issuerPrivateKey: reopened)
            #expect(created.publicKey.isValidSignature(signed.signature, for: signed))
        }
    }

    @Test("a wrong passphrase is refused with a message that names the key and not the passphrase")
    func wrongPassphrase() async throws {
        let directory = try TemporaryDirectory()
        let created = try await keystore(directory).generateKey(.p256, label: "vendor-acme")
        do {
            _ = try await keystore(directory, "wrong passphrase").signingKey(created.reference)
            Issue.record("a wrong passphrase must not open the key")
        } catch let error as FleetkeyError {
            #expect(error.code == .keyAccessDenied)
            #expect(error.reason.contains("'vendor-acme'"))
            #expect(error.reason.contains("wrong passphrase"))
            #expect(!error.reason.contains("right passphrase"))
        }
    }

    @Test("the file holds no plaintext key, and editing its metadata breaks the seal")
    func sealed() async throws {
        let directory = try TemporaryDirectory()
        let store = try keystore(directory)
        let created = try await store.generateKey(.p256, label: "root")
        let privateDER = try await store.signingKey(created.reference).serializeAsPEM().derBytes
        let file = directory.url.appendingPathComponent("keys/root.key.json")
        let contents = try Data(contentsOf: file)
        #expect(contents.range(of: Data(privateDER)) == nil)
        #expect(contents.range(of: Data(privateDER.suffix(40))) == nil)
        #expect(String(decoding: contents, as: UTF8.self).contains("PRIVATE KEY") == false)
        let permissions = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
        #expect(permissions == 0o600)

        let edited = String(decoding: contents, as: UTF8.self).replacingOccurrences(
            of: "\"label\" : \"root\"", with: "\"label\" : \"roots\"")
        try Data(edited.utf8).write(to: file)
        await #expect(throws: FleetkeyError(.keyAccessDenied, "")) {
            try await self.keystore(directory).signingKey(created.reference)
        }
    }

    @Test("an existing key is never overwritten; a destroyed key cannot sign")
    func overwriteAndDestroy() async throws {
        let directory = try TemporaryDirectory()
        let store = try keystore(directory)
        let created = try await store.generateKey(.p256, label: "once")
        await #expect(throws: FleetkeyError(.alreadyExists, "")) { try await store.generateKey(.p256, label: "once") }
        try await store.destroyKey(created.reference)
        await #expect(throws: FleetkeyError(.notFound, "")) {
            try await self.keystore(directory).signingKey(created.reference)
        }
    }

    @Test("too cheap a KDF cost is refused; the passphrase never prints")
    func costAndRedaction() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: FleetkeyError(.configuration, "")) {
            try SoftwareKeystore(directory: directory.url, passphrase: Passphrase("p"), cost: ScryptCost(log2N: 10))
        }
        let passphrase = Passphrase("hunter2-hunter2")
        #expect("\(passphrase)" == "<passphrase redacted>")
        #expect(String(reflecting: passphrase) == "<passphrase redacted>")
    }
}
