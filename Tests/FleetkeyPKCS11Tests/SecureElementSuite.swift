import Crypto
import FleetkeyCore
import FleetkeyCustody
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

@testable import FleetkeyPKCS11

/// The two implementations of the secure-element model; the suite runs every test against both.
enum ElementKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case emulator
    case pkcs11

    var testDescription: String { rawValue }
}

/// Makes and reopens elements of either kind: emulated ones in a temporary directory, PKCS#11 ones on the
/// fixture's `elements` SoftHSM2 token (one label prefix per element).
struct ElementBench {
    let kind: ElementKind
    let directory: TemporaryDirectory

    init(_ kind: ElementKind) throws {
        self.kind = kind
        self.directory = try TemporaryDirectory()
    }

    func make(_ slots: [SecureElementSlotConfiguration] = SecureElementSlotConfiguration.standardLayout) throws
        -> any SecureElement
    {
        let id = "SE-\(kind.rawValue)-\(UUID().uuidString.prefix(12))"
        switch kind {
        case .emulator: return try SecureElementEmulator.create(in: directory.url, elementID: id, slots: slots)
        case .pkcs11:
            return try PKCS11SecureElement.create(
                token: try SoftHSM.uri(token: "elements"), elementID: id, slots: slots,
                allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment())
        }
    }

    func reopen(_ element: any SecureElement) throws -> any SecureElement {
        switch kind {
        case .emulator: return try SecureElementEmulator.open(in: directory.url, elementID: element.elementID)
        case .pkcs11:
            return try PKCS11SecureElement.open(
                token: try SoftHSM.uri(token: "elements"), elementID: element.elementID,
                allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment())
        }
    }
}

/// The factory's path through an element: a PKCS#10 request signed inside, and its certificate from a vendor CA.
enum Factory {
    static func request(_ element: any SecureElement, slot: Int = 0, serial: String = "SN-1") throws
        -> CertificateSigningRequest
    {
        try RequestBuilder.deviceRequest(
            vendor: try VendorName("Acme"), serial: try DeviceSerial(serial),
            hardwareModule: HardwareModuleName(
                hardwareType: try ASN1ObjectIdentifier(dotRepresentation: "2.25.1234567890123"),
                serialNumber: Array(element.elementID.utf8)),
            key: try element.signingKey(inSlot: slot))
    }

    static func certificate(for request: CertificateSigningRequest) async throws -> Certificate {
        let throwaway = try await ThrowawayEcosystem.make()
        let authority = try await throwaway.ecosystem.vendorAuthority(try VendorName("Acme"))
        return try await throwaway.ecosystem.issueDeviceIdentity(.init(csr: try request.derBytes()), by: authority)
            .certificate
    }
}

@Suite("The secure-element model, for both implementations")
struct SecureElementSuite {
    @Test("a new element reports its configured slots, all empty", arguments: ElementKind.allCases)
    func freshElement(kind: ElementKind) throws {
        let bench = try ElementBench(kind)
        defer { withExtendedLifetime(bench) {} }
        let element = try bench.make()
        let slots = try element.slots()
        #expect(slots.map(\.configuration) == SecureElementSlotConfiguration.standardLayout)
        #expect(slots.allSatisfy { $0.keyState == .empty && !$0.locked && !$0.hasCertificate })
        #expect(try element.readCertificate(inSlot: 0) == nil)
        #expect(try KeySpec(try element.attestationPublicKey()) == .p256)
    }

    @Test("a key born inside signs a PKCS#10 request that verifies, also with openssl", arguments: ElementKind.allCases)
    func keyBornInsideSignsRequest(kind: ElementKind) throws {
        let bench = try ElementBench(kind)
        defer { withExtendedLifetime(bench) {} }
        let element = try bench.make()
        let publicKey = try element.generateKey(inSlot: 0)
        #expect(try element.publicKey(inSlot: 0) == publicKey)
        #expect(try element.status(ofSlot: 0).keyState == .present)
        let request = try Factory.request(element)
        #expect(request.publicKey == publicKey)
        #expect(request.publicKey.isValidSignature(request.signature, for: request))

        let directory = try TemporaryDirectory()
        let file = directory.url.appendingPathComponent("request.pem")
        try request.serializeAsPEM().pemString.write(to: file, atomically: true, encoding: .utf8)
        let openssl = Run.run("openssl", ["req", "-in", file.path, "-verify", "-noout"])
        #expect(openssl.status == 0, "\(openssl.output)")
        #expect(
            openssl.output.contains("verify OK")
                || openssl.output.contains("Certificate request self-signature verify OK"))
    }

    @Test(
        "attestations verify, say the key was born inside, and catch replays, forgeries and tampering",
        arguments: ElementKind.allCases)
    func attestation(kind: ElementKind) throws {
        let bench = try ElementBench(kind)
        defer { withExtendedLifetime(bench) {} }
        let element = try bench.make()
        let publicKey = try element.generateKey(inSlot: 0)
        let nonce = Array(SHA256.hash(data: Array("lot LOT-7".utf8)))
        let attestation = try element.attest(slot: 0, nonce: nonce)
        let decoded = try KeyAttestation(derEncoded: try attestation.derBytes())
        #expect(decoded == attestation)

        let verifier = KeyAttestationVerifier(trusting: try element.attestationPublicKey())
        let statement = try verifier.verify(
            decoded, .init(nonce: nonce, elementID: element.elementID, slot: 0, publicKey: publicKey))
        #expect(statement.generatedOnElement)
        #expect(statement.neverExtractable)
        #expect(!statement.slotLocked)
        #expect(statement.purpose == .deviceIdentity)

        func rejected(_ body: () throws -> Void) -> String? {
            do {
                try body()
                return nil
            } catch let error as FleetkeyError {
                return error.code == .attestationRejected ? error.reason : "wrong code \(error.code): \(error.reason)"
            } catch {
                return "unexpected \(error)"
            }
        }
        #expect(rejected { try verifier.verify(decoded, .init(nonce: [1, 2, 3])) }?.contains("replay") == true)
        #expect(
            rejected { try verifier.verify(decoded, .init(nonce: nonce, requireLocked: true)) }?.contains("not locked")
                == true)
        #expect(rejected { try verifier.verify(decoded, .init(nonce: nonce, slot: 1)) } != nil)
        #expect(rejected { try verifier.verify(decoded, .init(nonce: nonce, elementID: "SE-OTHER")) } != nil)
        let otherKey = Certificate.PublicKey(P256.Signing.PrivateKey().publicKey)
        #expect(rejected { try verifier.verify(decoded, .init(nonce: nonce, publicKey: otherKey)) } != nil)

        // Another element's attestation key does not vouch for this element's statements.
        let stranger = KeyAttestationVerifier(trusting: try bench.make().attestationPublicKey())
        #expect(
            rejected { try stranger.verify(decoded, .init(nonce: nonce)) }?.contains("not signed by the trusted")
                == true)

        // Flipping any byte of the statement (here: the slotLocked boolean) breaks the signature.
        var tampered = try attestation.derBytes()
        let lockedFlag = try #require(findSlotLockedFlag(tampered, statement: attestation.statementDER))
        tampered[lockedFlag] = 0xFF
        let forged = try KeyAttestation(derEncoded: tampered)
        #expect(forged.statement.slotLocked)
        #expect(
            rejected { try verifier.verify(forged, .init(nonce: nonce)) }?.contains("not signed by the trusted") == true
        )
        #expect(throws: FleetkeyError(.malformedInput, "")) {
            try KeyAttestation(derEncoded: Array(tampered.dropLast(3)))
        }
    }

    @Test(
        "a locked slot refuses key generation and certificate writes, and still signs", arguments: ElementKind.allCases)
    func lockedSlot(kind: ElementKind) async throws {
        let bench = try ElementBench(kind)
        defer { withExtendedLifetime(bench) {} }
        let element = try bench.make()
        _ = try element.generateKey(inSlot: 0)
        let certificate = try await Factory.certificate(for: try Factory.request(element))
        try element.writeCertificate(certificate, toSlot: 0)
        #expect(try element.readCertificate(inSlot: 0) == certificate)
        #expect(try element.status(ofSlot: 0).hasCertificate)
        try element.lock(slot: 0)
        try element.lock(slot: 0)
        #expect(try element.status(ofSlot: 0).locked)

        let generate = try #require(throws: FleetkeyError.self) { try element.generateKey(inSlot: 0) }
        #expect(generate.code == .invalidTransition)
        #expect(generate.reason.contains("locked"))
        let write = try #require(throws: FleetkeyError.self) { try element.writeCertificate(certificate, toSlot: 0) }
        #expect(write.code == .invalidTransition)
        #expect(write.reason.contains("locked"))
        #expect(try element.readCertificate(inSlot: 0) == certificate)

        // Signing still works, and the attestation now says the slot is locked.
        let request = try Factory.request(element, serial: "SN-2")
        #expect(request.publicKey.isValidSignature(request.signature, for: request))
        let nonce: [UInt8] = [7, 7, 7]
        let verifier = KeyAttestationVerifier(trusting: try element.attestationPublicKey())
        let statement = try verifier.verify(
            try element.attest(slot: 0, nonce: nonce), .init(nonce: nonce, requireLocked: true))
        #expect(statement.slotLocked)
        // The other slot is untouched by the lock.
        _ = try element.generateKey(inSlot: 1)
    }

    @Test("a zeroized key cannot sign, even through a signer taken before", arguments: ElementKind.allCases)
    func zeroize(kind: ElementKind) throws {
        let bench = try ElementBench(kind)
        defer { withExtendedLifetime(bench) {} }
        let element = try bench.make()
        _ = try element.generateKey(inSlot: 0)
        try element.lock(slot: 0)
        let signer = try element.signingKey(inSlot: 0)
        _ = try signer.sign(bytes: [1], signatureAlgorithm: .ecdsaWithSHA256)
        try element.zeroize(slot: 0)
        #expect(try element.status(ofSlot: 0).keyState == .zeroized)

        for attempt: () throws -> Void in [
            { _ = try signer.sign(bytes: [2], signatureAlgorithm: .ecdsaWithSHA256) },
            { _ = try element.sign([3], inSlot: 0, algorithm: .ecdsaWithSHA256) },
            { _ = try element.attest(slot: 0, nonce: []) },
            { _ = try element.publicKey(inSlot: 0) },
            { _ = try element.signingKey(inSlot: 0) },
            { _ = try element.generateKey(inSlot: 0) },
        ] {
            let error = try #require(throws: FleetkeyError.self) { try attempt() }
            #expect(error.code == .invalidTransition)
            #expect(error.reason.contains("zeroized"))
        }
        try element.zeroize(slot: 0)
        // Zeroizing an unlocked, empty slot works too, and is final.
        try element.zeroize(slot: 1)
        #expect(throws: FleetkeyError(.invalidTransition, "")) { try element.generateKey(inSlot: 1) }
    }

    @Test("state survives reopening the element", arguments: ElementKind.allCases)
    func reopen(kind: ElementKind) async throws {
        let bench = try ElementBench(kind)
        defer { withExtendedLifetime(bench) {} }
        let element = try bench.make()
        let publicKey = try element.generateKey(inSlot: 0)
        let certificate = try await Factory.certificate(for: try Factory.request(element))
        try element.writeCertificate(certificate, toSlot: 0)
        try element.lock(slot: 0)
        try element.zeroize(slot: 1)

        let reopened = try bench.reopen(element)
        #expect(try reopened.slots() == element.slots())
        #expect(try reopened.publicKey(inSlot: 0) == publicKey)
        #expect(try reopened.readCertificate(inSlot: 0) == certificate)
        #expect(try reopened.attestationPublicKey() == element.attestationPublicKey())
        let request = try Factory.request(reopened)
        #expect(request.publicKey.isValidSignature(request.signature, for: request))
        #expect(throws: FleetkeyError(.alreadyExists, "")) {
            switch kind {
            case .emulator:
                _ = try SecureElementEmulator.create(in: bench.directory.url, elementID: element.elementID)
            case .pkcs11:
                _ = try PKCS11SecureElement.create(
                    token: try SoftHSM.uri(token: "elements"), elementID: element.elementID,
                    allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment())
            }
        }
    }

    @Test(
        "the slot rules: no key yet, a second key, someone else's certificate, unknown slots, algorithms",
        arguments: ElementKind.allCases)
    func rules(kind: ElementKind) async throws {
        let bench = try ElementBench(kind)
        defer { withExtendedLifetime(bench) {} }
        let element = try bench.make([
            .init(slot: 0, purpose: .deviceIdentity, keySpec: .p256),
            .init(slot: 3, purpose: .application, keySpec: .p384),
        ])
        #expect(throws: FleetkeyError(.invalidTransition, "")) {
            try element.sign([1], inSlot: 0, algorithm: .ecdsaWithSHA256)
        }
        #expect(throws: FleetkeyError(.invalidTransition, "")) { try element.lock(slot: 0) }
        #expect(throws: FleetkeyError(.invalidTransition, "")) { try element.attest(slot: 0, nonce: []) }
        #expect(throws: FleetkeyError(.notFound, "")) { try element.generateKey(inSlot: 1) }

        _ = try element.generateKey(inSlot: 0)
        #expect(throws: FleetkeyError(.invalidArgument, "")) {
            try element.attest(slot: 0, nonce: Array(repeating: 0, count: 65))
        }
        #expect(throws: FleetkeyError(.alreadyExists, "")) { try element.generateKey(inSlot: 0) }

        // A certificate for a key from another element is refused.
        let other = try bench.make()
        _ = try other.generateKey(inSlot: 0)
        let foreign = try await Factory.certificate(for: try Factory.request(other))
        let mismatch = try #require(throws: FleetkeyError.self) { try element.writeCertificate(foreign, toSlot: 0) }
        #expect(mismatch.code == .invalidArgument)
        #expect(try element.readCertificate(inSlot: 0) == nil)

        // A P-384 slot makes P-384 keys and signs with ecdsa-with-SHA384 only.
        let p384 = try element.generateKey(inSlot: 3)
        #expect(try KeySpec(p384) == .p384)
        let request = try Factory.request(element, slot: 3)
        #expect(request.signatureAlgorithm == .ecdsaWithSHA384)
        #expect(request.publicKey.isValidSignature(request.signature, for: request))
        #expect(throws: FleetkeyError(.algorithmNotAllowed, "")) {
            try element.sign([1], inSlot: 3, algorithm: .ecdsaWithSHA256)
        }
        let statement = try KeyAttestationVerifier(trusting: try element.attestationPublicKey())
            .verify(try element.attest(slot: 3, nonce: []), .init(nonce: [], slot: 3, publicKey: p384))
        #expect(statement.purpose == .application)
    }

    @Test("bad configurations are refused", arguments: ElementKind.allCases)
    func badConfigurations(kind: ElementKind) throws {
        let bench = try ElementBench(kind)
        defer { withExtendedLifetime(bench) {} }
        #expect(throws: FleetkeyError(.invalidArgument, "")) { try bench.make([]) }
        #expect(throws: FleetkeyError(.invalidArgument, "")) {
            try bench.make([
                .init(slot: 0, purpose: .operational, keySpec: .p256),
                .init(slot: 0, purpose: .operational, keySpec: .p256),
            ])
        }
        #expect(throws: FleetkeyError(.algorithmNotAllowed, "")) {
            try bench.make([.init(slot: 0, purpose: .operational, keySpec: .ed25519)])
        }
        #expect(throws: FleetkeyError(.invalidArgument, "")) {
            switch kind {
            case .emulator: _ = try SecureElementEmulator.create(in: bench.directory.url, elementID: "../escape")
            case .pkcs11:
                _ = try PKCS11SecureElement.create(
                    token: try SoftHSM.uri(token: "elements"), elementID: "bad/id",
                    allowedModules: SoftHSM.allowedModules, environment: SoftHSM.environment())
            }
        }
    }
}

/// The offset of the slotLocked BOOLEAN's value byte in an attestation: the third BOOLEAN of the statement.
func findSlotLockedFlag(_ attestation: [UInt8], statement: [UInt8]) -> Int? {
    guard let start = attestation.firstRange(of: statement)?.lowerBound,
        let node = try? DER.parse(statement), case .constructed(let children) = node.content
    else { return nil }
    let booleans = children.filter { $0.identifier == .boolean }
    guard booleans.count == 3 else { return nil }
    // Node bytes are slices of `statement`, so their indices are offsets into it; skip the tag and length.
    return start + booleans[2].encodedBytes.startIndex + 2
}
