import FleetkeyCore
import FleetkeyTesting
import Foundation
import X509

/// A vendor CA with its delegated OCSP responder, a few issued devices, and a responder over them.
///
/// The ecosystem runs at the real time (its clock fixed at creation), so the responses it signs are current for
/// openssl, certtool and pkilint, which check them against the machine's clock.
struct OCSPFixture {
    let ecosystem: ThrowawayEcosystem
    let root: Certificate
    let vendorCA: Certificate
    let responderCertificate: Certificate
    let responderKey: Certificate.PrivateKey
    let devices: [Certificate]
    let statuses: InMemoryStatusSource
    let clock: FixedClock
    static let authorityID = "vendor-acme"

    static func make(devices count: Int = 3, vendorAlgorithm: KeySpec = .p256) async throws -> OCSPFixture {
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down) - 120)
        let ecosystem = try await ThrowawayEcosystem.make(vendors: [], now: now)
        let setup = try await ecosystem.ecosystem.addVendor(try VendorName("Acme"), algorithm: vendorAlgorithm)
        // Ecosystem.addVendor labels the responder key "<authority>-<profile>"; InMemoryKeyCustody prefixes "memory:".
        let responderKey = try await ecosystem.ecosystem.custody.signingKey(
            "memory:\(authorityID)-\(CertificateProfile.Name.ocspResponder)")
        let authority = try await ecosystem.ecosystem.vendorAuthority(try VendorName("Acme"))
        var devices: [Certificate] = []
        for index in 0..<count {
            let request = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "SN-\(index)")
            devices.append(
                try await ecosystem.ecosystem.issueDeviceIdentity(.init(csr: request.der), by: authority).certificate)
        }
        return OCSPFixture(
            ecosystem: ecosystem, root: ecosystem.root, vendorCA: setup.caCertificate,
            responderCertificate: setup.ocspResponderCertificate, responderKey: responderKey, devices: devices,
            statuses: InMemoryStatusSource(), clock: ecosystem.clock)
    }

    var servedIssuer: OCSPServedIssuer {
        get throws {
            try OCSPServedIssuer(
                authorityID: Self.authorityID, caCertificate: vendorCA, responderCertificate: responderCertificate,
                responderKey: responderKey)
        }
    }

    func responder(_ configuration: OCSPResponderConfiguration = .init()) throws -> OCSPResponder {
        try OCSPResponder(
            issuers: [try servedIssuer], statusSource: statuses, clock: clock, configuration: configuration)
    }

    func markGood(_ certificate: Certificate) {
        statuses.set(.good, issuer: Self.authorityID, serial: Array(certificate.serialNumber.bytes))
    }

    func markRevoked(_ certificate: Certificate, at date: Date, reason: RevocationReason?, invalidity: Date? = nil) {
        statuses.set(
            .revoked(at: date, reason: reason, invalidityDate: invalidity), issuer: Self.authorityID,
            serial: Array(certificate.serialNumber.bytes))
    }

    func verifier() -> OCSPResponseVerifier { OCSPResponseVerifier(issuer: vendorCA) }
}
