import FleetkeyCore
import Foundation
import Logging
import ServiceLifecycle
import X509

/// Renews each vendor's delegated OCSP responder certificate ahead of its expiry, in the running server, which
/// holds the vendor CA keys: a year after `fleetkey vendor add`, OCSP keeps answering with a valid signer.
///
/// For each served vendor CA whose responder is due (``OCSPResponderRenewal/isDue(_:at:)``): if the registry
/// already holds a newer valid responder certificate (another server renewed first), that one is adopted;
/// otherwise the core issues a new one under the `ocsp-responder` profile and records it in the registry, and only
/// then does the responder switch to it (``OCSPResponder/replaceResponder(_:)``). Time comes from the ecosystem's
/// clock, so tests move it instead of waiting.
package struct OCSPResponderRenewalService: Service {
    package let ecosystem: Ecosystem
    package let index: any RevocationStore
    package let responder: OCSPResponder
    package let authorities: [CertificateAuthority]
    package let logger: Logger
    package let checkInterval: Duration

    /// What a check did for one vendor CA.
    package enum Outcome: Sendable, Hashable {
        /// The responder in use is not due.
        case current
        /// A newer responder certificate found in the registry is now in use (its serial).
        case adopted(serial: String)
        /// A new responder certificate was issued, recorded, and is now in use (its serial).
        case renewed(serial: String)
        /// Renewal failed; the old responder stays in use and the next check tries again.
        case failed(String)
    }

    /// - Parameter authorities: the vendor CAs the responder serves, with their signing keys.
    package init(
        ecosystem: Ecosystem, index: any RevocationStore, responder: OCSPResponder,
        authorities: [CertificateAuthority], logger: Logger, checkInterval: Duration = .seconds(3600)
    ) {
        self.ecosystem = ecosystem
        self.index = index
        self.responder = responder
        self.authorities = authorities.filter { responder.servedAuthorities.contains($0.id) }
        self.logger = logger
        self.checkInterval = checkInterval
    }

    /// The responder a vendor CA starts with: the newest valid one in the registry, or, when it has none (they all
    /// expired while no server ran), a new one issued and recorded now. `nil` for a vendor that is not active.
    package static func startingResponder(
        ecosystem: Ecosystem, index: any RevocationStore, authority: CertificateAuthority, logger: Logger
    ) async throws -> (certificate: Certificate, key: Certificate.PrivateKey)? {
        guard let vendor = authority.vendorName else { return nil }
        do {
            return try await ecosystem.delegatedSigner(
                vendor: vendor, profile: CertificateProfile.Name.ocspResponder, index: index)
        } catch let error as FleetkeyError where error.code == .notFound {
            guard try await ecosystem.store.vendor(named: vendor)?.state == .active else { return nil }
            let issued = try await ecosystem.issueOCSPResponder(by: authority)
            logger.notice(
                "issued an OCSP responder certificate: the vendor had no valid one",
                metadata: ["vendor": "\(vendor)", "serial": "\(issued.certificate.serialNumber.hexString)"])
            return issued
        }
    }

    /// Checks every served vendor CA once, renewing what is due.
    @discardableResult
    package func renewDue() async -> [String: Outcome] {
        var outcomes: [String: Outcome] = [:]
        for authority in authorities {
            outcomes[authority.id] = await renewIfDue(authority)
        }
        return outcomes
    }

    func renewIfDue(_ authority: CertificateAuthority) async -> Outcome {
        let now = ecosystem.clock.now()
        guard let current = responder.responderCertificate(for: authority.id),
            OCSPResponderRenewal.isDue(current, at: now), let vendor = authority.vendorName
        else { return .current }
        do {
            if let newest = try? await ecosystem.delegatedSigner(
                vendor: vendor, profile: CertificateProfile.Name.ocspResponder, index: index),
                newest.certificate != current, !OCSPResponderRenewal.isDue(newest.certificate, at: now)
            {
                try responder.replaceResponder(try served(authority, newest))
                logger.notice(
                    "OCSP responder switched to a newer certificate from the registry",
                    metadata: ["vendor": "\(vendor)", "serial": "\(newest.certificate.serialNumber.hexString)"])
                return .adopted(serial: newest.certificate.serialNumber.hexString)
            }
            let issued = try await ecosystem.issueOCSPResponder(by: authority)
            try responder.replaceResponder(try served(authority, issued))
            logger.notice(
                "OCSP responder certificate renewed",
                metadata: [
                    "vendor": "\(vendor)", "serial": "\(issued.certificate.serialNumber.hexString)",
                    "previous": "\(current.serialNumber.hexString)",
                    "notAfter": "\(ISO8601DateFormatter().string(from: issued.certificate.notValidAfter))",
                ])
            return .renewed(serial: issued.certificate.serialNumber.hexString)
        } catch {
            logger.error(
                "OCSP responder renewal failed; the current responder stays in use",
                metadata: ["vendor": "\(vendor)", "error": "\(error)"])
            return .failed("\(error)")
        }
    }

    func served(_ authority: CertificateAuthority, _ signer: (certificate: Certificate, key: Certificate.PrivateKey))
        throws -> OCSPServedIssuer
    {
        try OCSPServedIssuer(
            authorityID: authority.id, caCertificate: authority.certificate, responderCertificate: signer.certificate,
            responderKey: signer.key)
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await renewDue()
            let interval = checkInterval
            // An hour's wait must not hold up a graceful shutdown.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
