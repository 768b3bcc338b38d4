import Crypto
import FleetkeyCore
import FleetkeySQLite
import FleetkeyTesting
import Foundation
import Testing
import X509

@testable import FleetkeyPKCS11

/// Each failure gives a clear error and fails closed: nothing signed, nothing recorded.
@Suite("PKCS#11 failure modes")
struct FailureModeTests {
    @Test("a wrong PIN is refused with a clear error that does not contain the PIN")
    func wrongPIN() async throws {
        let custody = try PKCS11KeyCustody(
            generatingIn: try SoftHSM.uri(token: "failures"), allowedModules: SoftHSM.allowedModules,
            environment: SoftHSM.environment(pin: "wrong-pin-31337"))
        let error = try #require(throws: FleetkeyError.self) { try custody.preflight() }
        #expect(error.code == .keyAccessDenied)
        #expect(error.reason.contains("refused the PIN (CKR_PIN_INCORRECT)"))
        #expect(error.reason.contains("FLEETKEY_PKCS11_PIN"))
        #expect(!error.reason.contains("wrong-pin-31337"))
        #expect(!error.reason.contains(SoftHSM.pin))
    }

    @Test("a wrong PIN is refused even while the token is logged in with the right one in this process")
    func wrongPINDoesNotRideOnAnotherLogin() async throws {
        let right = try PKCS11KeyCustody(
            generatingIn: try SoftHSM.uri(token: "failures"), allowedModules: SoftHSM.allowedModules,
            environment: SoftHSM.environment())
        let key = try await right.generateKey(.p256, label: "login-\(UUID().uuidString.prefix(8))")
        let signer = try await right.signingKey(key.reference)
        _ = try signer.sign(bytes: [1], signatureAlgorithm: .ecdsaWithSHA256)

        let wrong = try PKCS11KeyCustody(
            allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment(pin: "not-the-pin"))
        await #expect(throws: FleetkeyError(.keyAccessDenied, "")) { try await wrong.signingKey(key.reference) }
        // The holder of the right PIN carries on: it logs in again with its own PIN.
        let signature = try signer.sign(bytes: [2], signatureAlgorithm: .ecdsaWithSHA256)
        #expect(
            key.publicKey.isValidSignature(signature.rawRepresentation, for: [2], signatureAlgorithm: .ecdsaWithSHA256))
    }

    @Test("a missing PIN says where a PIN comes from")
    func missingPIN() throws {
        let custody = try PKCS11KeyCustody(
            generatingIn: try SoftHSM.uri(token: "failures"), allowedModules: SoftHSM.allowedModules, environment: [:])
        let error = try #require(throws: FleetkeyError.self) { try custody.preflight() }
        #expect(error.code == .keyAccessDenied)
        #expect(error.reason.contains("FLEETKEY_PKCS11_PIN"))
        #expect(error.reason.contains("never takes a PIN on the command line"))
    }

    @Test("a missing module is a clear error", arguments: ["/usr/lib/nowhere/libmissing.so", "/etc/hostname"])
    func missingModule(path: String) throws {
        try SoftHSM.ready()
        let custody = try PKCS11KeyCustody(
            generatingIn: PKCS11URI(token: "failures", modulePath: path),
            allowedModules: SoftHSM.allowedModules.adding([path]), environment: SoftHSM.environment())
        let error = try #require(throws: FleetkeyError.self) { try custody.preflight() }
        #expect(error.code == .custodyUnavailable)
        #expect(error.reason.contains(path))
    }

    @Test("a missing token is a clear error that lists the tokens present")
    func missingToken() throws {
        let custody = try PKCS11KeyCustody(
            generatingIn: try SoftHSM.uri(token: "no-such-token"), allowedModules: SoftHSM.allowedModules,
            environment: SoftHSM.environment())
        let error = try #require(throws: FleetkeyError.self) { try custody.preflight() }
        #expect(error.code == .custodyUnavailable)
        #expect(error.reason.contains("token=no-such-token"))
        #expect(error.reason.contains("'failures'"))
    }

    @Test("a URI without module-path or token is refused before anything is loaded")
    func incompleteURI() throws {
        #expect(throws: FleetkeyError(.invalidArgument, "")) {
            try PKCS11KeyCustody(
                generatingIn: PKCS11URI(token: "t"), allowedModules: SoftHSM.allowedModules, environment: [:])
        }
        #expect(throws: FleetkeyError(.invalidArgument, "")) {
            try PKCS11KeyCustody(
                generatingIn: PKCS11URI(object: "o", modulePath: SoftHSM.modulePath),
                allowedModules: SoftHSM.allowedModules, environment: [:])
        }
    }

    @Test("a token that disappears mid-run fails closed: nothing signed, nothing recorded")
    func tokenDisappearsMidRun() async throws {
        let workspace = try TemporaryDirectory()
        let registry = try SQLiteRegistry(path: workspace.url.appendingPathComponent("registry.sqlite").path)
        let custody = try PKCS11KeyCustody(
            generatingIn: try SoftHSM.uri(token: "vanishing"), allowedModules: SoftHSM.allowedModules,
            environment: SoftHSM.environment())
        let throwaway = try await ThrowawayEcosystem.make(store: registry, custody: custody)
        let authority = try await throwaway.ecosystem.vendorAuthority(try VendorName("Acme"))
        let request = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-BEFORE")
        _ = try await throwaway.ecosystem.issueDeviceIdentity(.init(csr: request.der), by: authority)

        let certificatesBefore = try await registry.certificateCount(issuer: nil)
        let eventsBefore = try await registry.events(subject: nil, limit: nil).count
        try SoftHSM.deleteToken("vanishing")

        let next = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-AFTER")
        let error = await #expect(throws: FleetkeyError.self) {
            try await throwaway.ecosystem.issueDeviceIdentity(.init(csr: next.der), by: authority)
        }
        #expect(error?.code == .custodyUnavailable)
        #expect(error?.reason.contains("token 'vanishing'") == true)
        #expect(error?.reason.contains("Nothing was signed") == true)
        #expect(try await registry.certificateCount(issuer: nil) == certificatesBefore)
        #expect(try await registry.events(subject: nil, limit: nil).count == eventsBefore)
        #expect(try await registry.devices(serial: try DeviceSerial("SN-AFTER")).isEmpty)

        // Asking for the key again finds no token at all.
        let root = try #require(try await registry.authority(id: "root"))
        let again = await #expect(throws: FleetkeyError.self) { try await custody.signingKey(root.keyReference) }
        #expect(again?.code == .custodyUnavailable)
    }
}
