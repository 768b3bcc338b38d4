import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

@testable import FleetkeyCore

@Suite("Revocation and CRLs")
struct RevocationTests {
    /// An ecosystem with `count` devices of lot L1 issued by Acme.
    func world(devices count: Int, vendors: [String] = ["Acme"]) async throws -> (
        ThrowawayEcosystem, any RegistryStore & RevocationStore, [Ecosystem.IssuedCertificate]
    ) {
        let registry = try ThrowawayEcosystem.inMemoryRegistry()
        let world = try await ThrowawayEcosystem.make(vendors: vendors, store: registry)
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        var issued: [Ecosystem.IssuedCertificate] = []
        for index in 0..<count {
            let (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "D-\(index)")
            issued.append(try await world.ecosystem.issueDeviceIdentity(.init(csr: csr, lot: "L1"), by: authority))
        }
        return (world, registry, issued)
    }

    @Test("revoking a lot revokes every certificate and moves every device to revoked, with events")
    func lot() async throws {
        let (world, registry, issued) = try await world(devices: 25)
        let revoker = Revoker(store: registry, clock: world.clock, actor: "test")
        let report = try await revoker.revoke(.lot(name: "L1", vendor: nil), reason: .keyCompromise)
        #expect(report.revoked.count == 25)
        #expect(report.devices == 25)
        #expect(report.issuers == ["vendor-acme"])
        for certificate in issued {
            let stored = try await registry.certificate(issuer: "vendor-acme", serial: certificate.record.serial)
            #expect(stored?.status == .revoked)
            #expect(stored?.revocation?.reason == .keyCompromise)
            #expect(try await registry.device(certificate.device.id)?.state == .revoked)
        }
        let events = try await registry.events(subject: nil, limit: nil)
        #expect(events.filter { $0.action == .certificateRevoked }.count == 25)
        #expect(events.filter { $0.action == .deviceRevoked }.count == 25)
        // Revoking again changes nothing and says so.
        let again = try await revoker.revoke(.lot(name: "L1", vendor: nil), reason: .keyCompromise)
        #expect(again.revoked.isEmpty)
        #expect(again.alreadyRevoked == 25)
    }

    @Test("revoking a vendor revokes its CA certificate, everything under it, and stops its issuance")
    func vendor() async throws {
        let (world, registry, issued) = try await world(devices: 3, vendors: ["Acme", "Globex"])
        let report = try await Revoker(store: registry, clock: world.clock, actor: "test").revoke(
            .vendor(try VendorName("Acme")), reason: .cACompromise)
        // vendor CA (issued by root), its OCSP responder and manifest signer, and 3 devices
        #expect(report.revoked.count == 6)
        #expect(report.issuers == ["root", "vendor-acme"])
        #expect(try await registry.vendor(named: try VendorName("Acme"))?.state == .revoked)
        #expect(try await registry.vendor(named: try VendorName("Globex"))?.state == .active)
        #expect(
            try await registry.certificate(issuer: "vendor-acme", serial: issued[0].record.serial)?.status == .revoked)
        await #expect(throws: FleetkeyError(.invalidTransition, "")) {
            try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        }
    }

    @Test("unknown targets and bad reasons are refused with the rule named")
    func refusals() async throws {
        let (world, registry, _) = try await world(devices: 1)
        let revoker = Revoker(store: registry, clock: world.clock, actor: "test")
        await #expect(throws: FleetkeyError(.notFound, "")) {
            try await revoker.revoke(.lot(name: "nope", vendor: nil), reason: .superseded)
        }
        await #expect(throws: FleetkeyError(.notFound, "")) {
            try await revoker.revoke(.certificate(serial: "01", issuer: nil), reason: .superseded)
        }
        #expect(throws: FleetkeyError(.invalidArgument, "")) { try RevocationReason(parsing: "stolen") }
        #expect(throws: FleetkeyError(.invalidArgument, "")) { try RevocationReason(parsing: "removeFromCRL") }
        #expect(try RevocationReason(parsing: "key-compromise") == .keyCompromise)
        #expect(try RevocationReason(parsing: "5") == .cessationOfOperation)
    }

    @Test("a CRL lists every revoked certificate with its reason, verifies, round-trips, and its number increases")
    func crl() async throws {
        let (world, registry, issued) = try await world(devices: 10)
        let revoker = Revoker(store: registry, clock: world.clock, actor: "test")
        _ = try await revoker.revoke(
            .device(serial: issued[2].device.id.serial, vendor: nil), reason: .keyCompromise,
            invalidityDate: world.clock.now().addingTimeInterval(-3600))
        _ = try await revoker.revoke(.certificate(serial: issued[5].record.serial, issuer: nil), reason: .superseded)
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        let publisher = CRLPublisher(store: registry, policy: world.ecosystem.policy, clock: world.clock)

        let first = try #require(try await publisher.publish(authority).first)
        let second = try #require(try await publisher.publish(authority).first)
        #expect(first.number == 1)
        #expect(second.number == 2)
        #expect(try await registry.publish(first) == false, "an older CRL number must never replace a newer one")

        let parsed = try CertificateList(derEncoded: second.der)
        #expect(parsed.isSignatureValid(issuer: authority.certificate))
        #expect(parsed.tbsCertList.crlNumber == 2)
        #expect(try parsed.derBytes() == second.der)
        let entries = Dictionary(
            uniqueKeysWithValues: parsed.tbsCertList.revokedCertificates.map { (Hex.upper($0.serial), $0) })
        #expect(entries.count == 2)
        #expect(entries[issued[2].record.serial]?.reason == .keyCompromise)
        #expect(entries[issued[2].record.serial]?.invalidityDate != nil)
        #expect(entries[issued[5].record.serial]?.reason == .superseded)
        #expect(parsed.tbsCertList.nextUpdate.timeIntervalSince(parsed.tbsCertList.thisUpdate) == 24 * 3600)
    }

    @Test("partitioned CRLs: each certificate's distribution point names the partition whose CRL lists it")
    func partitions() async throws {
        var policy = try EcosystemPolicy(ecosystem: "P", baseURL: "http://127.0.0.1:8080", hardwareModuleType: "2.25.1")
        policy.revocation.crlPartitions = 4
        let registry = try ThrowawayEcosystem.inMemoryRegistry()
        let clock = FixedClock(Date(timeIntervalSince1970: 1_790_000_000))
        let ecosystem = Ecosystem(
            policy: policy, store: registry, custody: InMemoryKeyCustody(), clock: clock,
            random: SeededRandomSource(seed: 7), actor: "t")
        _ = try await ecosystem.createRoot(algorithm: .p384)
        _ = try await ecosystem.addVendor(try VendorName("Acme"), algorithm: .p256)
        let authority = try await ecosystem.vendorAuthority(try VendorName("Acme"))
        var issued: [Ecosystem.IssuedCertificate] = []
        for index in 0..<40 {
            let (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "P-\(index)")
            issued.append(try await ecosystem.issueDeviceIdentity(.init(csr: csr, lot: "LP"), by: authority))
        }
        _ = try await Revoker(store: registry, clock: clock, actor: "t").revoke(
            .lot(name: "LP", vendor: nil), reason: .keyCompromise)
        let crls = try await CRLPublisher(store: registry, policy: policy, clock: clock).publish(authority)
        #expect(crls.count == 4)
        var listed = 0
        for published in crls {
            let crl = try CertificateList(derEncoded: published.der)
            let idpExtension = try #require(crl.tbsCertList.extensions.first { $0.oid == IssuingDistributionPoint.oid })
            #expect(idpExtension.critical)
            let idp = try IssuingDistributionPoint(derEncoded: idpExtension.value)
            #expect(idp.onlyContainsUserCerts)
            guard case .fullName(let names) = idp.distributionPoint,
                case .uniformResourceIdentifier(let url) = names.first
            else {
                Issue.record("partition CRL without a URI")
                continue
            }
            guard case .partition(let index) = published.scope else {
                Issue.record("a partitioned vendor CA published \(published.scope)")
                continue
            }
            #expect(url.hasSuffix("vendor-acme-p\(index).crl"))
            for entry in crl.tbsCertList.revokedCertificates {
                let certificate = try #require(issued.first { $0.record.serial == Hex.upper(entry.serial) })
                let dp = try CRLDistributionPoints(
                    certificate.certificate.extensions[oid: FleetkeyOID.crlDistributionPoints]!)
                #expect(dp.points.flatMap(\.uris) == [url])
                listed += 1
            }
        }
        #expect(listed == 40)
    }

    @Test(
        "crlPartitions from 1 to 4 to 8 loses no entry: each CRL a certificate names is published and lists it")
    func partitionCountChanges() async throws {
        var policy = try EcosystemPolicy(ecosystem: "P", baseURL: "http://127.0.0.1:8080", hardwareModuleType: "2.25.1")
        let registry = try ThrowawayEcosystem.inMemoryRegistry()
        let clock = FixedClock(Date(timeIntervalSince1970: 1_790_000_000))
        let custody = InMemoryKeyCustody()
        var issued: [Ecosystem.IssuedCertificate] = []
        var ecosystem = Ecosystem(
            policy: policy, store: registry, custody: custody, clock: clock, random: SeededRandomSource(seed: 1),
            actor: "t")
        _ = try await ecosystem.createRoot(algorithm: .p384)
        _ = try await ecosystem.addVendor(try VendorName("Acme"), algorithm: .p256)
        for (count, prefix) in [(1, "A"), (4, "B"), (8, "C")] {
            policy.revocation.crlPartitions = count
            ecosystem = Ecosystem(
                policy: policy, store: registry, custody: custody, clock: clock,
                random: SeededRandomSource(seed: UInt64(count)), actor: "t")
            let authority = try await ecosystem.vendorAuthority(try VendorName("Acme"))
            for index in 0..<24 {
                let (_, csr) = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "\(prefix)-\(index)")
                issued.append(try await ecosystem.issueDeviceIdentity(.init(csr: csr, lot: "LP"), by: authority))
            }
        }
        _ = try await Revoker(store: registry, clock: clock, actor: "t").revoke(
            .lot(name: "LP", vendor: nil), reason: .keyCompromise)
        // Published under today's policy, 8 partitions.
        let authority = try await ecosystem.vendorAuthority(try VendorName("Acme"))
        let crls = try await CRLPublisher(store: registry, policy: policy, clock: clock).publish(authority)
        var byURL: [String: Set<[UInt8]>] = [:]
        var complete: Set<[UInt8]>?
        for published in crls {
            let crl = try CertificateList(derEncoded: published.der)
            #expect(crl.isSignatureValid(issuer: authority.certificate))
            let serials = Set(crl.tbsCertList.revokedCertificates.map(\.serial))
            if let ext = crl.tbsCertList.extensions.first(where: { $0.oid == IssuingDistributionPoint.oid }) {
                let point = try IssuingDistributionPoint(derEncoded: ext.value)
                guard case .fullName(let names)? = point.distributionPoint,
                    case .uniformResourceIdentifier(let url) = names.first
                else {
                    Issue.record("a partition CRL without a URI")
                    continue
                }
                byURL[url] = serials
            } else {
                complete = serials
            }
        }
        // The unpartitioned URL the first 24 certificates name still answers, listing every revoked certificate.
        #expect(complete?.count == 72)
        for certificate in issued {
            let points = try CRLDistributionPoints(
                certificate.certificate.extensions[oid: FleetkeyOID.crlDistributionPoints]!
            ).points.flatMap(\.uris)
            let serial = Array(certificate.certificate.serialNumber.bytes)
            #expect(points.count == 1)
            guard let url = points.first else { continue }
            if url.hasSuffix("/vendor-acme.crl") {
                #expect(complete?.contains(serial) == true)
            } else {
                // A partition CRL lists exactly the certificates that name it: its critical IDP claims completeness.
                #expect(byURL[url]?.contains(serial) == true, "\(url) does not list \(certificate.record.serial)")
            }
        }
        for (url, serials) in byURL {
            let naming = issued.filter {
                (try? CRLDistributionPoints($0.certificate.extensions[oid: FleetkeyOID.crlDistributionPoints]!))?
                    .points.flatMap(\.uris) == [url]
            }
            #expect(serials == Set(naming.map { Array($0.certificate.serialNumber.bytes) }), "\(url)")
        }
        // p4..p7 exist under 8 partitions, and p0..p3 were named under 4 as well: 8 partitions and the complete CRL.
        #expect(crls.count == 9)
    }

    @Test("X.509 times switch from UTCTime to GeneralizedTime in 2050 and convert exactly")
    func times() throws {
        let date = Date(timeIntervalSince1970: 1_790_000_123)
        guard case .utcTime = try X509Time(date) else {
            Issue.record("2026 must be UTCTime")
            return
        }
        #expect(try X509Time(date).date == date)
        let later = Date(timeIntervalSince1970: 2_600_000_000)  // 2052
        guard case .generalizedTime = try X509Time(later) else {
            Issue.record("2052 must be GeneralizedTime")
            return
        }
        #expect(try X509Time(later).date == later)
        for day in stride(from: -800_000, to: 800_000, by: 997) {
            let (y, m, d) = X509Time.civil(fromDays: Int64(day))
            #expect(X509Time.days(fromCivil: y, m, d) == Int64(day))
        }
    }
}
