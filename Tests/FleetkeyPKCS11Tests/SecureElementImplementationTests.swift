import CPKCS11
import Crypto
import FleetkeyCore
import FleetkeyCustody
import FleetkeyTesting
import Foundation
import Testing
import X509

@testable import FleetkeyPKCS11

@Suite("What each secure-element implementation keeps where")
struct SecureElementImplementationTests {
    @Test("PKCS#11: slot keys are sensitive and never extractable on the token, and zeroizing destroys their objects")
    func pkcs11Objects() throws {
        let token = try SoftHSM.uri(token: "elements")
        let element = try PKCS11SecureElement.create(
            token: token, elementID: "SE-objects-\(UUID().uuidString.prefix(8))",
            allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment())
        _ = try element.generateKey(inSlot: 0)
        let custody = try PKCS11KeyCustody(allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment())
        var keyURI = token
        keyURI.object = element.slotLabel(0)
        let report = try custody.keyReport(keyURI.description)
        #expect(report.custodyProven, "\(report.findings)")

        try element.zeroize(slot: 0)
        let (handle, pin) = try custody.connect(token)
        let remaining = try handle.withSession(pin: pin, "count objects") { session in
            try session.findObjects([.text(CKA_LABEL, element.slotLabel(0))]).count
        }
        #expect(remaining == 0, "the zeroized slot's key objects are still on the token")
        #expect(throws: FleetkeyError(.notFound, "")) { try custody.keyReport(keyURI.description) }
    }

    @Test("PKCS#11: a key imported into a slot from outside is attested as such, and the verifier refuses it")
    func pkcs11ImportedKeyIsNotBornInside() throws {
        let token = try SoftHSM.uri(token: "elements")
        let element = try PKCS11SecureElement.create(
            token: token, elementID: "SE-import-\(UUID().uuidString.prefix(8))",
            allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment())
        var slotURI = token
        slotURI.object = element.slotLabel(0)
        let imported = P256.Signing.PrivateKey()
        try ImportedKey.write(
            imported, uri: slotURI,
            custody: try PKCS11KeyCustody(allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment()))
        #expect(try element.status(ofSlot: 0).keyState == .present)

        let attestation = try element.attest(slot: 0, nonce: [9])
        #expect(!attestation.statement.generatedOnElement)
        #expect(attestation.statement.publicKey == Certificate.PublicKey(imported.publicKey))
        let error = try #require(throws: FleetkeyError.self) {
            try KeyAttestationVerifier(trusting: try element.attestationPublicKey()).verify(
                attestation, .init(nonce: [9]))
        }
        #expect(error.code == .attestationRejected)
        #expect(error.reason.contains("not generated inside"))
    }

    @Test("emulator: the state file is private, and zeroizing removes the key's bytes from it")
    func emulatorFile() throws {
        let directory = try TemporaryDirectory()
        let element = try SecureElementEmulator.create(in: directory.url, elementID: "SE-file-1")
        _ = try element.generateKey(inSlot: 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: element.fileURL.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        struct Peek: Decodable {
            struct Slot: Decodable { var privateKey: String? }
            var slots: [Slot]
        }
        let before = try JSONDecoder().decode(Peek.self, from: Data(contentsOf: element.fileURL))
        let secret = try #require(before.slots[0].privateKey)
        try element.zeroize(slot: 0)
        let after = try String(contentsOf: element.fileURL, encoding: .utf8)
        #expect(!after.contains(secret))
        #expect(try JSONDecoder().decode(Peek.self, from: Data(after.utf8)).slots[0].privateKey == nil)
        // No temporary files are left behind by the atomic writes.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["SE-file-1.se.json"])
    }

    @Test("emulator: a fleet of elements is provisioned quickly (key, request signed inside, attestation)")
    func emulatedFleet() throws {
        let directory = try TemporaryDirectory()
        let count = 300
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for index in 0..<count {
                let element = try SecureElementEmulator.create(in: directory.url, elementID: "SE-FLEET-\(index)")
                _ = try element.generateKey(inSlot: 0)
                let request = try Factory.request(element, serial: "SN-FLEET-\(index)")
                #expect(request.publicKey.isValidSignature(request.signature, for: request))
                try element.lock(slot: 0)
                _ = try element.attest(slot: 0, nonce: [UInt8](repeating: UInt8(index % 256), count: 32))
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "emulated \(count) elements in \(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", Double(count) / seconds)) elements/s)"
        )
        #expect(seconds < 60, "emulating \(count) elements took \(seconds) s")
    }
}
