import Crypto
import FleetkeyCore
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@Suite("Device identity issuance")
struct IssuanceTests {
    @Test("a request becomes a profile-shaped certificate, recorded with its device and events")
    func issuesAndRecords() async throws {
        let world = try await ThrowawayEcosystem.make()
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        let (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-1", hardwareSerial: "SE-1")
        let issued = try await world.ecosystem.issueDeviceIdentity(.init(csr: csr, lot: "LOT-1"), by: authority)

        let certificate = issued.certificate
        #expect(
            certificate.subject.description == "O=Acme,SERIALNUMBER=SN-1"
                || certificate.subject.description.contains("SN-1"))
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try certificate.extensions.keyUsage?.digitalSignature == true)
        #expect(try certificate.extensions.keyUsage?.keyCertSign == false)
        let hardware = try (certificate.extensions.subjectAlternativeNames.map { Array($0) } ?? []).compactMap {
            try HardwareModuleName($0)
        }
        #expect(hardware.map(\.serialText) == ["SE-1"])
        #expect(
            try CRLDistributionPoints(certificate.extensions[oid: FleetkeyOID.crlDistributionPoints]!).points.flatMap(
                \.uris)
                == ["http://127.0.0.1:8080/crl/vendor-acme.crl"])
        #expect(authority.certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(certificate.notValidAfter <= authority.certificate.notValidAfter)

        let stored = try await world.registry.certificate(issuer: "vendor-acme", serial: issued.record.serial)
        #expect(stored?.der == (try certificate.derBytes()))
        let device = try await world.registry.device(
            DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial("SN-1")))
        #expect(device?.state == .provisioned)
        #expect(device?.lot == "LOT-1")
        let actions = try await world.registry.events(subject: .device(try #require(device).id), limit: nil)
            .map(\.action)
        #expect(actions == [.deviceRegistered, .deviceProvisioned])
    }

    @Test("a request whose signature does not verify fails proof of possession, and nothing is recorded")
    func proofOfPossession() async throws {
        let world = try await ThrowawayEcosystem.make()
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        var (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-2")
        csr[csr.count - 5] ^= 0x01  // inside the signature's r or s
        let before = try await world.registry.certificateCount(issuer: nil)
        await #expect(throws: FleetkeyError(.proofOfPossessionFailed, "")) {
            try await world.ecosystem.issueDeviceIdentity(.init(csr: csr), by: authority)
        }
        #expect(try await world.registry.certificateCount(issuer: nil) == before)
    }

    @Test("a subject outside the vendor's namespace is refused")
    func namespace() async throws {
        let world = try await ThrowawayEcosystem.make(vendors: ["Acme", "Globex"])
        let acme = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        let (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: "Globex", serial: "SN-3")
        do {
            _ = try await world.ecosystem.issueDeviceIdentity(.init(csr: csr), by: acme)
            Issue.record("a Globex subject must not be issued by Acme's CA")
        } catch let error as FleetkeyError {
            #expect(error.code == .subjectRejected)
            #expect(error.reason.contains("O=Globex is outside the namespace"))
        }
    }

    @Test("a small RSA key is refused by the algorithm policy")
    func rsa1024() async throws {
        let world = try await ThrowawayEcosystem.make()
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        // swift-certificates cannot even hold an RSA-1024 key, so the request is a fixed `openssl req` output.
        let csr = try Self.rsa1024Request()
        do {
            _ = try await world.ecosystem.issueDeviceIdentity(.init(csr: csr), by: authority)
            Issue.record("an RSA-1024 request must be refused")
        } catch let error as FleetkeyError {
            #expect(error.code == .algorithmNotAllowed)
            #expect(error.reason.contains("rsa key of 1024 bits is too small"))
        }
    }

    /// A PKCS#10 request for an RSA-1024 key, subject O=Acme, serialNumber=SN-4 (openssl req output, fixed).
    static func rsa1024Request() throws -> [UInt8] {
        let url = Bundle.module.url(forResource: "rsa1024", withExtension: "csr", subdirectory: "Resources")!
        return Array(try Data(contentsOf: url))
    }

    @Test("garbage is neither PEM nor DER")
    func garbage() async throws {
        let world = try await ThrowawayEcosystem.make()
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        do {
            _ = try await world.ecosystem.issueDeviceIdentity(.init(csr: Array("hello".utf8)), by: authority)
            Issue.record("garbage must be refused")
        } catch let error as FleetkeyError {
            #expect(error.code == .malformedInput)
            #expect(error.reason.contains("neither a PEM nor a DER PKCS#10"))
        }
    }

    @Test("issuing again to a provisioned device is an invalid lifecycle transition")
    func reissue() async throws {
        let world = try await ThrowawayEcosystem.make()
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        _ = try await world.ecosystem.issueDeviceIdentity(
            .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-5").der), by: authority)
        do {
            _ = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-5").der), by: authority)
            Issue.record("a second identity for a provisioned device must be refused")
        } catch let error as FleetkeyError {
            #expect(error.code == .invalidTransition)
            #expect(error.reason.contains("provisioned"))
        }
    }

    @Test("a serial collision in the store is retried with a fresh serial, never handed out twice")
    func serialCollision() async throws {
        let world = try await ThrowawayEcosystem.make()
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        let first = try await world.ecosystem.issueDeviceIdentity(
            .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-6").der), by: authority)
        // A random source that first repeats the serial already used, then gives fresh bytes.
        let repeating = ScriptedRandomSource([Hex.decode(first.record.serial)!, Array(repeating: 0x55, count: 16)])
        let unlucky = Ecosystem(
            policy: world.ecosystem.policy, store: world.registry, custody: world.ecosystem.custody, clock: world.clock,
            random: repeating, actor: "test")
        let second = try await unlucky.issueDeviceIdentity(
            .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-7").der), by: authority)
        #expect(second.record.serial != first.record.serial)
        #expect(second.record.serial == "55555555555555555555555555555555")
        #expect(try await world.registry.certificateCount(issuer: "vendor-acme") == 4)
        #expect(
            try await world.registry.device(DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial("SN-7")))?
                .state == .provisioned)
    }
}

/// Hands out the given byte strings in order, then repeats the last one.
final class ScriptedRandomSource: RandomSource, @unchecked Sendable {
    private var queue: [[UInt8]]
    private let lock = NSLock()

    init(_ queue: [[UInt8]]) { self.queue = queue }

    func bytes(count: Int) -> [UInt8] {
        lock.withLock {
            let next = queue.count > 1 ? queue.removeFirst() : queue[0]
            return Array(next.prefix(count))
        }
    }
}

@Suite("Pre-issuance lint")
struct LintTests {
    @Test("a draft that contradicts its profile is refused before signing, naming the field")
    func refusesBadDraft() async throws {
        let world = try await ThrowawayEcosystem.make()
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        let builder = DraftBuilder(policy: world.ecosystem.policy)
        let key = P256.Signing.PrivateKey()
        var draft = try builder.draft(
            .init(
                profileName: CertificateProfile.Name.deviceIdentity,
                subject: SubjectName([(.organization, "Acme"), (.serialNumber, "SN-9")]),
                publicKey: Certificate.PublicKey(key.publicKey)),
            issuer: authority.info, issuerKey: authority.keySpec,
            serial: SerialNumberGenerator(random: SystemRandomSource()).next(), now: world.clock.now())
        #expect(
            ProfileLinter(policy: world.ecosystem.policy).lint(draft, issuer: authority.info, now: world.clock.now())
                .isEmpty)

        // A builder bug that made a device a CA and dropped its CRL pointer must not reach a signature.
        draft.extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(digitalSignature: true))
            SubjectKeyIdentifier(hash: draft.publicKey)
        }
        draft.notAfter = authority.certificate.notValidAfter.addingTimeInterval(86_400)
        let findings = ProfileLinter(policy: world.ecosystem.policy).lint(
            draft, issuer: authority.info, now: world.clock.now())
        let fields = Set(findings.map(\.field))
        #expect(
            fields.isSuperset(of: [
                "basicConstraints", "validity", "authorityKeyIdentifier", "cRLDistributionPoints", "extendedKeyUsage",
            ]))
        do {
            _ = try authority.issue(draft, now: world.clock.now())
            Issue.record("a draft with findings must not be signed")
        } catch let error as FleetkeyError {
            #expect(error.code == .lintFailed)
            #expect(error.reason.contains("nothing was signed"))
        }
    }

    @Test("certificates from the throwaway ecosystem pass the lint the CA ran: root, vendor CA, device")
    func hierarchyShape() async throws {
        let world = try await ThrowawayEcosystem.make()
        #expect(try world.root.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: nil))
        let vendor = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        #expect(try vendor.certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        let constraints = try #require(try vendor.certificate.extensions.nameConstraints)
        #expect(constraints.permittedSubtrees.count == 1)
        #expect(vendor.certificate.extensions[oid: .X509ExtensionID.nameConstraints]?.critical == true)
        #expect(vendor.vendorName?.value == "Acme")
        #expect(world.root.publicKey.isValidSignature(vendor.certificate.signature, for: vendor.certificate))
    }
}
