import FleetkeyCore
import FleetkeySQLite
import FleetkeyServer
import FleetkeyTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import X509

/// The delegated OCSP responder certificate is renewed by the running server ahead of its expiry, recorded in the
/// registry before use, and the newest valid one is chosen whatever the order of serials. Time is moved on the
/// ecosystem's clock, never waited for.
@Suite("OCSP responder renewal")
struct ResponderRenewalTests {
    static let acme = try! VendorName("Acme")

    func renewal(_ fixture: ServerFixture) -> OCSPResponderRenewalService {
        OCSPResponderRenewalService(
            ecosystem: fixture.ecosystem, index: fixture.registry, responder: fixture.responder,
            authorities: [fixture.authority], logger: ServerFixture.logger)
    }

    func responderRefs(_ fixture: ServerFixture) async throws -> [CertificateRef] {
        try await fixture.registry.certificateRefs(.issuer(fixture.authority.id)).filter {
            $0.profile == CertificateProfile.Name.ocspResponder
        }
    }

    @Test("not due for nine months; then renewed, recorded, and used for the next answers, checked over HTTP")
    func renewsAheadOfExpiry() async throws {
        let fixture = try await ServerFixture(devices: 1)
        let service = renewal(fixture)
        let original = try #require(fixture.responder.responderCertificate(for: fixture.authority.id))
        #expect(await service.renewDue() == [fixture.authority.id: .current])

        fixture.clock.advance(by: 200 * 86_400)
        #expect(await service.renewDue() == [fixture.authority.id: .current])
        #expect(try await responderRefs(fixture).count == 1)

        // 300 days on, a quarter of the year is no longer left: renewal is due.
        fixture.clock.advance(by: 100 * 86_400)
        let outcome = try #require(await service.renewDue()[fixture.authority.id])
        guard case .renewed(let serial) = outcome else {
            Issue.record("expected a renewal, got \(outcome)")
            return
        }
        let renewed = try #require(fixture.responder.responderCertificate(for: fixture.authority.id))
        #expect(renewed != original && renewed.serialNumber.hexString == serial)
        #expect(renewed.notValidBefore <= fixture.clock.now())
        #expect(renewed.notValidAfter > original.notValidAfter)
        #expect(try renewed.extensions.extendedKeyUsage?.contains(.ocspSigning) == true)
        // Recorded before use: the registry holds it, with its key's location and an issuance event.
        let record = try #require(try await fixture.registry.certificate(issuer: fixture.authority.id, serial: serial))
        #expect(record.profile == CertificateProfile.Name.ocspResponder && record.status == .valid)
        #expect(try await fixture.registry.keyRecord(fingerprint: record.keyFingerprint)?.location != nil)
        let events = try await fixture.registry.events(
            subject: .certificate(issuer: fixture.authority.id, serial: serial), limit: nil)
        #expect(events.map(\.action) == [.certificateIssued])
        // Checked again right away: nothing more to do.
        #expect(await service.renewDue() == [fixture.authority.id: .current])

        // The routes answer with the new responder; the old one will have expired by the time these answers do.
        let app = try fixture.application()
        let device = fixture.devices[0]
        try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/ocsp/vendor-acme/\(Data(try fixture.request(device)).base64EncodedString())", method: .get)
            let verified = try fixture.verify(Array(buffer: response.body))
            #expect(verified.signer == renewed)
            #expect(verified.status(of: device.serialNumber) == .good)
        }
        fixture.clock.advance(by: 70 * 86_400)  // past the original's notAfter
        #expect(fixture.clock.now() > original.notValidAfter)
        let late = await fixture.responder.respond(to: try fixture.request(device))
        #expect(try fixture.verify(late.der).signer == renewed)
    }

    @Test("a newer responder another server recorded is adopted instead of issuing one more")
    func adoptsFromRegistry() async throws {
        let fixture = try await ServerFixture(devices: 0)
        fixture.clock.advance(by: 300 * 86_400)
        // Another server renewed first: the registry has a new valid responder certificate.
        let elsewhere = try await fixture.ecosystem.issueOCSPResponder(by: fixture.authority)
        let outcome = await renewal(fixture).renewDue()
        #expect(outcome == [fixture.authority.id: .adopted(serial: elsewhere.certificate.serialNumber.hexString)])
        #expect(fixture.responder.responderCertificate(for: fixture.authority.id) == elsewhere.certificate)
        #expect(try await responderRefs(fixture).count == 2)
    }

    @Test("delegatedSigner takes the valid responder with the latest notBefore, whatever the serial order")
    func newestValidSigner() async throws {
        let fixture = try await ServerFixture(devices: 0)
        let first = try #require(fixture.responder.responderCertificate(for: fixture.authority.id))
        // Renew, a day apart each time, until a newer certificate has a lower serial than an older one: the order
        // the registry lists them in (by serial) then disagrees with their age.
        var issued = [first]
        repeat {
            fixture.clock.advance(by: 86_400)
            issued.append(try await fixture.ecosystem.issueOCSPResponder(by: fixture.authority).certificate)
        } while issued.count < 40 && !issued.dropLast().contains(where: { Self.lowerSerial(issued.last!, than: $0) })
        let newest = issued.last!
        let chosen = try await fixture.ecosystem.delegatedSigner(
            vendor: Self.acme, profile: CertificateProfile.Name.ocspResponder, index: fixture.registry)
        #expect(chosen.certificate == newest)
        #expect(chosen.key.publicKey == newest.publicKey)

        // Once all have expired, none is chosen: a signer that cannot sign validly is no signer.
        fixture.clock.advance(by: 400 * 86_400)
        await #expect(throws: FleetkeyError.self) {
            try await fixture.ecosystem.delegatedSigner(
                vendor: Self.acme, profile: CertificateProfile.Name.ocspResponder, index: fixture.registry)
        }
    }

    /// Whether `a`'s serial sorts before `b`'s as the registry orders them (upper-case hex text).
    static func lowerSerial(_ a: Certificate, than b: Certificate) -> Bool {
        a.serialNumber.hexString < b.serialNumber.hexString
    }

    @Test("a responder is due in its last quarter, when expired, and before it is valid")
    func dueRule() async throws {
        let fixture = try await ServerFixture(devices: 0)
        let certificate = try #require(fixture.responder.responderCertificate(for: fixture.authority.id))
        let lifetime = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
        #expect(!OCSPResponderRenewal.isDue(certificate, at: certificate.notValidBefore))
        #expect(!OCSPResponderRenewal.isDue(certificate, at: certificate.notValidAfter - lifetime / 4 - 60))
        #expect(OCSPResponderRenewal.isDue(certificate, at: certificate.notValidAfter - lifetime / 4 + 60))
        #expect(OCSPResponderRenewal.isDue(certificate, at: certificate.notValidAfter))
        #expect(OCSPResponderRenewal.isDue(certificate, at: certificate.notValidBefore - 1))
    }
}
