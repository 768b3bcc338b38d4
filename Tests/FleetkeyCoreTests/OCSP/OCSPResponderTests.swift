import FleetkeyCore
import FleetkeyTesting
import Foundation
import SwiftASN1
import Synchronization
import Testing
import X509

/// The responder's answers, statuses, refusals and cache, against a throwaway ecosystem's vendor CA.
@Suite("OCSP responder (RFC 6960, RFC 5019 profile)")
struct OCSPResponderTests {
    static func request(
        _ fixture: OCSPFixture, _ certificate: Certificate, hash: OCSPHashAlgorithm = .sha1, nonce: OCSPNonce? = nil
    ) throws -> [UInt8] {
        try OCSPRequestBuilder.requestDER(
            issuer: fixture.vendorCA, serial: certificate.serialNumber, hash: hash, nonce: nonce)
    }

    @Test("a known, unrevoked serial is good, signed by the delegated responder, named by key, valid for an hour")
    func good() async throws {
        let fixture = try await OCSPFixture.make()
        let device = fixture.devices[0]
        fixture.markGood(device)
        let answer = try await fixture.responder().respond(to: try Self.request(fixture, device))
        #expect(answer.responseStatus == .successful)
        #expect(!answer.echoesNonce)
        let verified = try fixture.verifier().verify(answer.der, at: fixture.clock.now())
        #expect(verified.status(of: device.serialNumber) == .good)
        #expect(verified.signer == fixture.responderCertificate)
        #expect(
            verified.responseData.responderID == (try OCSPResponderID(keyOf: fixture.responderCertificate.publicKey)))
        let basic = try OCSPResponse(derEncoded: answer.der).responseBytes!.basicResponse()
        #expect(basic.certificates == [fixture.responderCertificate])
        #expect(basic.signatureAlgorithm.signatureAlgorithm == .ecdsaWithSHA256)
        let single = try #require(verified.responses.first)
        let now = fixture.clock.now().timeIntervalSince1970.rounded(.down)
        #expect(single.thisUpdateDate.timeIntervalSince1970 == now)
        #expect(single.nextUpdateDate?.timeIntervalSince1970 == now + 3600)
        #expect(verified.responseData.producedAtDate.timeIntervalSince1970 == now)
        #expect(answer.nextUpdate == single.nextUpdateDate)
        // What the responder wrote by hand re-encodes to the same octets: it is DER.
        #expect(try OCSPResponse(derEncoded: answer.der).derBytes() == answer.der)
    }

    @Test("a revoked serial is revoked with its time, reason and invalidityDate")
    func revoked() async throws {
        let fixture = try await OCSPFixture.make()
        let device = fixture.devices[1]
        let revokedAt = Date(timeIntervalSince1970: 1_790_000_100)
        let compromisedAt = Date(timeIntervalSince1970: 1_789_990_000)
        fixture.markRevoked(device, at: revokedAt, reason: .keyCompromise, invalidity: compromisedAt)
        let answer = try await fixture.responder().respond(to: try Self.request(fixture, device))
        let verified = try fixture.verifier().verify(answer.der, at: fixture.clock.now())
        guard case .revoked(let info) = verified.status(of: device.serialNumber) else {
            Issue.record("expected revoked, got \(String(describing: verified.status(of: device.serialNumber)))")
            return
        }
        #expect(info.revocationDate == revokedAt)
        #expect(info.revocationReason == .keyCompromise)
        let invalidity = try #require(verified.responses.first?.singleExtensions?[oid: [2, 5, 29, 24]])
        #expect(!invalidity.critical)
        #expect(OCSPFixtureTime.date(try GeneralizedTime(derEncoded: invalidity.value)) == compromisedAt)
    }

    @Test("a serial the registry does not know is unknown, never good; that answer is cached like the others")
    func unknownNeverGood() async throws {
        let fixture = try await OCSPFixture.make()
        let responder = try fixture.responder()
        // Issued by the CA, but the status source has no record of it.
        for certificate in [fixture.devices[2]] {
            let answer = await responder.respond(to: try Self.request(fixture, certificate))
            #expect(
                try fixture.verifier().verify(answer.der, at: fixture.clock.now()).status(of: certificate.serialNumber)
                    == .unknown)
        }
        let never = Certificate.SerialNumber(bytes: [0x42, 0x42, 0x42])
        let bytes = try OCSPRequestBuilder.requestDER(issuer: fixture.vendorCA, serial: never)
        let first = await responder.respond(to: bytes)
        #expect(!first.servedFromCache)
        #expect(try fixture.verifier().verify(first.der, at: fixture.clock.now()).status(of: never) == .unknown)
        // Asked again, as a flood of the same stranger's request would: no status read, no signature.
        let lookups = fixture.statuses.lookups
        let second = await responder.respond(to: bytes)
        #expect(second.servedFromCache)
        #expect(second.der == first.der)
        #expect(fixture.statuses.lookups == lookups)
        // A refresh re-reads it: still unknown, it is dropped rather than signed again; known by then, re-signed.
        #expect((await responder.refreshExpiring(within: .infinity)).dropped == 2)
        _ = await responder.respond(to: bytes)
        fixture.statuses.set(.good, issuer: OCSPFixture.authorityID, serial: Array(never.bytes))
        #expect((await responder.refreshExpiring(within: .infinity)).signed == 1)
        let third = await responder.respond(to: bytes)
        #expect(third.servedFromCache)
        #expect(try fixture.verifier().verify(third.der, at: fixture.clock.now()).status(of: never) == .good)
    }

    @Test("with no fresh signature allowed: a miss is tryLater, a nonce is left out, a cached answer still served")
    func allowance() async throws {
        let fixture = try await OCSPFixture.make(devices: 2)
        for device in fixture.devices { fixture.markGood(device) }
        let responder = try fixture.responder()
        let cached = try Self.request(fixture, fixture.devices[0])
        _ = await responder.respond(to: cached)
        var asked = 0
        let refuse: () -> Bool = {
            asked += 1
            return false
        }
        #expect(await responder.respond(to: cached, allowingFreshSignature: refuse).servedFromCache)
        #expect(asked == 0)  // a cache hit asks nothing
        let miss = await responder.respond(
            to: try Self.request(fixture, fixture.devices[1]), allowingFreshSignature: refuse)
        #expect(miss.responseStatus == .tryLater)
        #expect(miss.der == [0x30, 0x03, 0x0A, 0x01, 0x03])
        let nonce = try OCSPNonce([UInt8](repeating: 5, count: 16))
        let withNonce = await responder.respond(
            to: try Self.request(fixture, fixture.devices[0], nonce: nonce), allowingFreshSignature: refuse)
        #expect(withNonce.servedFromCache && !withNonce.echoesNonce)
        let several = try OCSPRequestBuilder.request(
            issuer: fixture.vendorCA, serials: fixture.devices.map(\.serialNumber)
        ).derBytes()
        #expect(await responder.respond(to: several, allowingFreshSignature: refuse).responseStatus == .tryLater)
        #expect(await responder.respond(to: several, allowingFreshSignature: { true }).responseStatus == .successful)
    }

    @Test("a replaced responder signs from then on; the old one's cached answers are dropped at once")
    func replaceResponder() async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        let device = fixture.devices[0]
        fixture.markGood(device)
        let responder = try fixture.responder()
        let bytes = try Self.request(fixture, device)
        _ = await responder.respond(to: bytes)
        #expect(await responder.respond(to: bytes).servedFromCache)

        let authority = try await fixture.ecosystem.ecosystem.vendorAuthority(try VendorName("Acme"))
        let renewed = try await fixture.ecosystem.ecosystem.issueOCSPResponder(by: authority)
        try responder.replaceResponder(
            try OCSPServedIssuer(
                authorityID: OCSPFixture.authorityID, caCertificate: fixture.vendorCA,
                responderCertificate: renewed.certificate, responderKey: renewed.key))
        #expect(responder.responderCertificate(for: OCSPFixture.authorityID) == renewed.certificate)
        let answer = await responder.respond(to: bytes)
        #expect(!answer.servedFromCache)
        let verified = try fixture.verifier().verify(answer.der, at: fixture.clock.now())
        #expect(verified.signer == renewed.certificate)
        #expect(verified.status(of: device.serialNumber) == .good)

        // A responder for another CA, or for a CA not served, is refused.
        let other = try await fixture.ecosystem.ecosystem.addVendor(try VendorName("Globex"), algorithm: .p256)
        let globexKey = try await fixture.ecosystem.ecosystem.custody.signingKey(
            "memory:vendor-globex-\(CertificateProfile.Name.ocspResponder)")
        let foreign = try OCSPServedIssuer(
            authorityID: "vendor-globex", caCertificate: other.caCertificate,
            responderCertificate: other.ocspResponderCertificate, responderKey: globexKey)
        #expect(throws: FleetkeyError.self) { try responder.replaceResponder(foreign) }
        let mislabelled = try OCSPServedIssuer(
            authorityID: OCSPFixture.authorityID, caCertificate: other.caCertificate,
            responderCertificate: other.ocspResponderCertificate, responderKey: globexKey)
        #expect(throws: FleetkeyError.self) { try responder.replaceResponder(mislabelled) }
    }

    @Test(
        "CertIDs hashed with SHA-1, SHA-256, SHA-384 and SHA-512 are answered and repeated exactly",
        arguments: OCSPHashAlgorithm.allCases)
    func hashAlgorithms(_ hash: OCSPHashAlgorithm) async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        let device = fixture.devices[0]
        fixture.markGood(device)
        let responder = try fixture.responder()
        for null in [true, false] {
            let certID = try OCSPRequestBuilder.certID(
                issuer: fixture.vendorCA, serial: device.serialNumber, hash: hash, nullParameters: null)
            let request = try OCSPRequest(tbsRequest: OCSPTBSRequest(requestList: [OCSPSingleRequest(certID: certID)]))
            let answer = await responder.respond(to: try request.derBytes())
            let verified = try fixture.verifier().verify(answer.der, at: fixture.clock.now())
            #expect(verified.responses.map(\.certID) == [certID])
            #expect(verified.status(of: device.serialNumber) == .good)
        }
    }

    @Test("a CA the responder does not serve gets unauthorized")
    func unauthorized() async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        let responder = try fixture.responder()
        // The root is not served here; nor is a second vendor's CA.
        let forRoot = try OCSPRequestBuilder.requestDER(issuer: fixture.root, serial: fixture.vendorCA.serialNumber)
        let other = try await fixture.ecosystem.ecosystem.addVendor(try VendorName("Globex"), algorithm: .p256)
        let forOther = try OCSPRequestBuilder.requestDER(
            issuer: other.caCertificate, serial: Certificate.SerialNumber(bytes: [0x41]))
        for bytes in [forRoot, forOther] {
            let answer = await responder.respond(to: bytes)
            #expect(answer.responseStatus == .unauthorized)
            #expect(answer.der == [0x30, 0x03, 0x0A, 0x01, 0x06])
        }
        // One request spanning a served and an unserved CA cannot be signed by one responder.
        let mixed = try OCSPRequest(
            tbsRequest: OCSPTBSRequest(requestList: [
                OCSPSingleRequest(
                    certID: try OCSPRequestBuilder.certID(
                        issuer: fixture.vendorCA, serial: fixture.devices[0].serialNumber)),
                OCSPSingleRequest(
                    certID: try OCSPRequestBuilder.certID(
                        issuer: other.caCertificate, serial: fixture.devices[0].serialNumber)),
            ]))
        #expect(await responder.respond(to: try mixed.derBytes()).responseStatus == .unauthorized)
    }

    @Test("garbage, truncations, bad nonces, critical unknown extensions and oversized requests are malformedRequest")
    func malformed() async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        fixture.markGood(fixture.devices[0])
        let responder = try fixture.responder(.init(maximumRequestsPerMessage: 2, maximumRequestSize: 1024))
        let good = try Self.request(fixture, fixture.devices[0])
        let certID = try OCSPRequestBuilder.certID(issuer: fixture.vendorCA, serial: fixture.devices[0].serialNumber)
        func request(extensions: [Certificate.Extension], count: Int = 1) throws -> [UInt8] {
            try OCSPRequest(
                tbsRequest: OCSPTBSRequest(
                    requestList: Array(repeating: OCSPSingleRequest(certID: certID), count: count),
                    requestExtensions: extensions.isEmpty ? nil : try Certificate.Extensions(extensions))
            ).derBytes()
        }
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("text", Array("GET / HTTP/1.1\r\n".utf8)),
            ("truncated", Array(good.dropLast())),
            ("trailing octet", good + [0]),
            ("too large", good + [UInt8](repeating: 0, count: 1024)),
            (
                "zero-length nonce",
                try request(extensions: [
                    Certificate.Extension(oid: FleetkeyOID.ocspNonce, critical: false, value: [0x04, 0x00])
                ])
            ),
            (
                "129-octet nonce",
                try request(extensions: [
                    Certificate.Extension(
                        oid: FleetkeyOID.ocspNonce, critical: false,
                        value: ([0x04, 0x81, 0x81] + [UInt8](repeating: 1, count: 129))[...])
                ])
            ),
            (
                "critical unknown extension",
                try request(extensions: [
                    Certificate.Extension(oid: [1, 2, 3, 4], critical: true, value: [0x05, 0x00])
                ])
            ),
            ("more requests than allowed", try request(extensions: [], count: 3)),
        ]
        for (name, bytes) in cases {
            let answer = await responder.respond(to: bytes)
            #expect(answer.responseStatus == .malformedRequest, "\(name)")
            #expect(answer.der == [0x30, 0x03, 0x0A, 0x01, 0x01], "\(name)")
        }
        // A non-critical unknown extension is ignored (RFC 6960 §4.4).
        let ignored = try request(extensions: [
            Certificate.Extension(oid: [1, 2, 3, 4], critical: false, value: [0x05, 0x00])
        ])
        #expect(await responder.respond(to: ignored).responseStatus == .successful)
    }

    @Test("a failing status source gives internalError and discloses nothing")
    func internalError() async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        fixture.statuses.setFailing(true)
        let answer = try await fixture.responder().respond(to: try Self.request(fixture, fixture.devices[0]))
        #expect(answer.responseStatus == .internalError)
        #expect(answer.der == [0x30, 0x03, 0x0A, 0x01, 0x02])
    }

    @Test("a request nonce is echoed in a response signed on the spot, never served from the cache")
    func nonceEcho() async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        let device = fixture.devices[0]
        fixture.markGood(device)
        let responder = try fixture.responder()
        _ = await responder.respond(to: try Self.request(fixture, device))  // fills the cache for the no-nonce form
        var previous: [UInt8] = []
        for fill: UInt8 in [1, 2] {
            let nonce = try OCSPNonce([UInt8](repeating: fill, count: 32))
            let answer = await responder.respond(to: try Self.request(fixture, device, nonce: nonce))
            #expect(answer.echoesNonce)
            #expect(!answer.servedFromCache)
            #expect(answer.der != previous)
            previous = answer.der
            let verified = try fixture.verifier().verify(answer.der, at: fixture.clock.now(), nonce: nonce)
            #expect(verified.status(of: device.serialNumber) == .good)
            #expect(throws: FleetkeyError.self) {
                try fixture.verifier().verify(answer.der, at: fixture.clock.now(), nonce: try OCSPNonce([9]))
            }
        }
    }

    @Test("answers are pre-signed and cached; revocation invalidates them at once")
    func cacheAndInvalidate() async throws {
        let fixture = try await OCSPFixture.make(devices: 2)
        let device = fixture.devices[0]
        fixture.markGood(device)
        fixture.markGood(fixture.devices[1])
        let responder = try fixture.responder()
        let bytes = try Self.request(fixture, device)
        let first = await responder.respond(to: bytes)
        #expect(!first.servedFromCache)
        let lookups = fixture.statuses.lookups
        let second = await responder.respond(to: bytes)
        #expect(second.servedFromCache)
        #expect(second.der == first.der)
        #expect(fixture.statuses.lookups == lookups)  // a hit reads no status and makes no signature

        fixture.markRevoked(device, at: fixture.clock.now(), reason: .keyCompromise)
        responder.invalidate(issuer: OCSPFixture.authorityID, serial: Array(device.serialNumber.bytes))
        let third = await responder.respond(to: bytes)
        #expect(!third.servedFromCache)
        guard
            case .revoked = try fixture.verifier().verify(third.der, at: fixture.clock.now()).status(
                of: device.serialNumber)
        else {
            Issue.record("the answer after invalidation is not revoked")
            return
        }
        #expect(await responder.respond(to: bytes).servedFromCache)

        // Dropping the whole CA's answers, as revoking a vendor does.
        let other = try Self.request(fixture, fixture.devices[1])
        _ = await responder.respond(to: other)
        #expect(responder.cacheStatistics.entries == 2)
        responder.invalidate(issuer: OCSPFixture.authorityID)
        #expect(responder.cacheStatistics.entries == 0)
        #expect(!(await responder.respond(to: other)).servedFromCache)
    }

    @Test("an invalidation that lands while an answer is being signed keeps that answer out of the cache")
    func invalidationDuringFill() async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        let device = fixture.devices[0]
        let source = RevokingStatusSource(serial: Array(device.serialNumber.bytes))
        let responder = try OCSPResponder(
            issuers: [try fixture.servedIssuer], statusSource: source, clock: fixture.clock)
        source.responder.withLock { $0 = responder }
        let bytes = try Self.request(fixture, device)
        // The source answers good but records a revocation (and invalidates) before returning.
        let first = await responder.respond(to: bytes)
        #expect(
            try fixture.verifier().verify(first.der, at: fixture.clock.now()).status(of: device.serialNumber) == .good)
        let second = await responder.respond(to: bytes)
        #expect(!second.servedFromCache)
        guard
            case .revoked = try fixture.verifier().verify(second.der, at: fixture.clock.now()).status(
                of: device.serialNumber)
        else {
            Issue.record("a stale good answer was cached across a revocation")
            return
        }
    }

    @Test("refreshExpiring re-signs answers ahead of nextUpdate; an expired answer is never served")
    func refresh() async throws {
        let fixture = try await OCSPFixture.make(devices: 2)
        for device in fixture.devices { fixture.markGood(device) }
        let responder = try fixture.responder()
        let bytes = try Self.request(fixture, fixture.devices[0])
        let first = await responder.respond(to: bytes)
        _ = await responder.respond(to: try Self.request(fixture, fixture.devices[1]))

        fixture.clock.advance(by: 1800)
        #expect((await responder.refreshExpiring(within: 900)).signed == 0)  // 30 minutes left: not due yet
        fixture.clock.advance(by: 1200)  // 10 minutes left
        fixture.statuses.set(
            .unknown, issuer: OCSPFixture.authorityID, serial: Array(fixture.devices[1].serialNumber.bytes))
        let report = await responder.refreshExpiring(within: 900)
        #expect(report.signed == 1)
        #expect(report.dropped == 1)  // the registry no longer knows devices[1]
        let refreshed = await responder.respond(to: bytes)
        #expect(refreshed.servedFromCache)
        #expect(refreshed.der != first.der)
        #expect(
            refreshed.producedAt
                == Date(timeIntervalSince1970: fixture.clock.now().timeIntervalSince1970.rounded(.down)))
        #expect(try fixture.verifier().verify(refreshed.der, at: fixture.clock.now()).responses.count == 1)

        // Odd windows neither crash nor miss: infinity re-signs every answer, NaN only expired ones (none).
        #expect((await responder.refreshExpiring(within: .nan)).signed == 0)
        #expect((await responder.refreshExpiring(within: .infinity)).signed == 1)

        // Without a refresh, an answer past its nextUpdate is signed afresh rather than served.
        fixture.clock.advance(by: 3600)
        let late = await responder.respond(to: bytes)
        #expect(!late.servedFromCache)
        #expect(
            try fixture.verifier().verify(late.der, at: fixture.clock.now()).status(of: fixture.devices[0].serialNumber)
                == .good)
    }

    @Test("presign prepares answers before the first query; unknown serials are skipped")
    func presign() async throws {
        let fixture = try await OCSPFixture.make(devices: 2)
        fixture.markGood(fixture.devices[0])
        let responder = try fixture.responder()
        let report = try await responder.presign(
            issuer: OCSPFixture.authorityID, serials: fixture.devices.map { Array($0.serialNumber.bytes) })
        #expect(report.signed == 1)
        #expect(await responder.respond(to: try Self.request(fixture, fixture.devices[0])).servedFromCache)
        #expect(!(await responder.respond(to: try Self.request(fixture, fixture.devices[1]))).servedFromCache)
        await #expect(throws: FleetkeyError.self) { try await responder.presign(issuer: "root", serials: []) }
    }

    @Test("the cache never holds more answers than its capacity")
    func bounded() async throws {
        let fixture = try await OCSPFixture.make(devices: 0)
        let responder = try fixture.responder(.init(cacheCapacity: 8))
        for index in 0..<40 {
            let serial = Certificate.SerialNumber(bytes: [0x40, UInt8(index)])
            fixture.statuses.set(.good, issuer: OCSPFixture.authorityID, serial: Array(serial.bytes))
            _ = await responder.respond(to: try OCSPRequestBuilder.requestDER(issuer: fixture.vendorCA, serial: serial))
            #expect(responder.cacheStatistics.entries <= 8)
        }
        let statistics = responder.cacheStatistics
        #expect(statistics.evictions > 0)
        #expect(statistics.misses == 40)
        // A recently answered serial is still there.
        let last = try OCSPRequestBuilder.requestDER(
            issuer: fixture.vendorCA, serial: Certificate.SerialNumber(bytes: [0x40, 39]))
        #expect(await responder.respond(to: last).servedFromCache)
    }

    @Test("a request about several certificates is answered with one signature covering all of them")
    func multipleRequests() async throws {
        let fixture = try await OCSPFixture.make(devices: 3)
        fixture.markGood(fixture.devices[0])
        fixture.markRevoked(fixture.devices[1], at: Date(timeIntervalSince1970: 1_790_000_000), reason: .superseded)
        let request = try OCSPRequestBuilder.request(
            issuer: fixture.vendorCA, serials: fixture.devices.map(\.serialNumber))
        let answer = try await fixture.responder().respond(to: try request.derBytes())
        #expect(!answer.servedFromCache)
        let verified = try fixture.verifier().verify(answer.der, at: fixture.clock.now())
        #expect(verified.responses.count == 3)
        #expect(verified.status(of: fixture.devices[0].serialNumber) == .good)
        #expect(
            verified.status(of: fixture.devices[1].serialNumber).map { if case .revoked = $0 { true } else { false } }
                == true)
        #expect(verified.status(of: fixture.devices[2].serialNumber) == .unknown)
    }

    @Test("a responder certificate that does not match its key, its CA or the OCSPSigning purpose is refused")
    func configurationChecks() async throws {
        let fixture = try await OCSPFixture.make(devices: 0)
        let custody = fixture.ecosystem.ecosystem.custody
        let manifestKey = try await custody.signingKey(
            "memory:\(OCSPFixture.authorityID)-\(CertificateProfile.Name.manifestSigner)")
        #expect(throws: FleetkeyError.self) {  // key of another certificate
            try OCSPServedIssuer(
                authorityID: "vendor-acme", caCertificate: fixture.vendorCA,
                responderCertificate: fixture.responderCertificate, responderKey: manifestKey)
        }
        #expect(throws: FleetkeyError.self) {  // not issued by the CA it would serve
            try OCSPServedIssuer(
                authorityID: "root", caCertificate: fixture.root,
                responderCertificate: fixture.responderCertificate, responderKey: fixture.responderKey)
        }
        let vendorSetup = try await fixture.ecosystem.ecosystem.addVendor(try VendorName("Initech"), algorithm: .p256)
        let initechManifestKey = try await custody.signingKey(
            "memory:vendor-initech-\(CertificateProfile.Name.manifestSigner)")
        #expect(throws: FleetkeyError.self) {  // a manifest signer is not an OCSP responder
            try OCSPServedIssuer(
                authorityID: "vendor-initech", caCertificate: vendorSetup.caCertificate,
                responderCertificate: vendorSetup.manifestSignerCertificate, responderKey: initechManifestKey)
        }
        for validity in [30, 400 * 86_400, .infinity, .nan] as [TimeInterval] {
            #expect(throws: FleetkeyError.self) { try fixture.responder(.init(validity: validity)) }
        }
        #expect(throws: FleetkeyError.self) {  // the same CA twice
            try OCSPResponder(
                issuers: [try fixture.servedIssuer, try fixture.servedIssuer], statusSource: fixture.statuses,
                clock: fixture.clock)
        }
    }

    @Test(
        "vendors keyed with P-384 and Ed25519 sign with ecdsa-with-SHA384 and Ed25519",
        arguments: [KeySpec.p384, .ed25519])
    func otherAlgorithms(_ spec: KeySpec) async throws {
        let fixture = try await OCSPFixture.make(devices: 1, vendorAlgorithm: spec)
        fixture.markGood(fixture.devices[0])
        let answer = try await fixture.responder().respond(to: try Self.request(fixture, fixture.devices[0]))
        let verified = try fixture.verifier().verify(answer.der, at: fixture.clock.now())
        #expect(verified.status(of: fixture.devices[0].serialNumber) == .good)
        let basic = try OCSPResponse(derEncoded: answer.der).responseBytes!.basicResponse()
        #expect(basic.signatureAlgorithm.signatureAlgorithm == spec.signatureAlgorithm)
    }

    @Test("mutated requests never crash the responder and always get a well-formed OCSPResponse")
    func mutations() async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        fixture.markGood(fixture.devices[0])
        let responder = try fixture.responder()
        let seeds = [
            try Self.request(fixture, fixture.devices[0]),
            try Self.request(
                fixture, fixture.devices[0], hash: .sha256, nonce: try OCSPNonce([UInt8](repeating: 3, count: 32))),
        ]
        let random = SeededRandomSource(seed: 6960)
        var statuses: Set<OCSPResponseStatus> = []
        for round in 0..<3000 {
            var bytes = seeds[round % seeds.count]
            let edits = 1 + Int(random.bytes(count: 1)[0] % 4)
            for _ in 0..<edits {
                let choice = random.bytes(count: 3)
                let position = bytes.isEmpty ? 0 : Int(UInt16(choice[1]) << 8 | UInt16(choice[2])) % bytes.count
                switch choice[0] % 4 {
                case 0 where !bytes.isEmpty: bytes[position] = choice[2]
                case 1 where !bytes.isEmpty: bytes.remove(at: position)
                case 2: bytes.insert(choice[1], at: position)
                default: bytes = Array(bytes.prefix(position))
                }
            }
            let answer = await responder.respond(to: bytes)
            statuses.insert(answer.responseStatus)
            let parsed = try OCSPResponse(derEncoded: answer.der)
            #expect(parsed.responseStatus == answer.responseStatus)
            if answer.responseStatus == .successful {
                _ = try fixture.verifier().verify(answer.der, at: fixture.clock.now())
            }
        }
        #expect(statuses.contains(.malformedRequest))
    }
}

/// A status source that says good, but records a revocation (and tells the responder) before its answer returns:
/// the race between a cache fill and a revocation, made deterministic.
final class RevokingStatusSource: CertificateStatusSource {
    let serial: [UInt8]
    let responder = Mutex<OCSPResponder?>(nil)
    private let revoked = Mutex(false)

    init(serial: [UInt8]) { self.serial = serial }

    func status(issuer: String, serial: [UInt8]) async throws -> RevocationStatus {
        guard serial == self.serial else { return .unknown }
        let wasRevoked = revoked.withLock { state in
            defer { state = true }
            return state
        }
        if wasRevoked {
            return .revoked(at: Date(timeIntervalSince1970: 1_790_000_000), reason: .keyCompromise, invalidityDate: nil)
        }
        responder.withLock { $0 }?.invalidate(issuer: issuer, serial: serial)
        return .good
    }
}

/// Reads GeneralizedTime in tests the way the responder writes it.
enum OCSPFixtureTime {
    static func date(_ time: GeneralizedTime) -> Date {
        var components = DateComponents()
        components.year = time.year
        components.month = time.month
        components.day = time.day
        components.hour = time.hours
        components.minute = time.minutes
        components.second = time.seconds
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: components)!
    }
}
