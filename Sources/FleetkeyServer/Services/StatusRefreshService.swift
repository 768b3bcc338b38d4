import FleetkeyCore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Keeps published status fresh: learns of revocations (from any process, through the registry), invalidates
/// OCSP answers at once, republishes the affected CRLs within a second, and re-signs CRLs and OCSP answers
/// ahead of their nextUpdate.
///
/// On start it republishes every CRL, so a server that was killed mid-burst serves CRLs that include every
/// revocation the registry acknowledged; CRL numbers come from the registry and never go backwards.
public struct StatusRefreshService: Service {
    let store: any RegistryStore & RevocationStore
    let publisher: CRLPublisher
    let authorities: [String: CertificateAuthority]
    let distribution: CRLDistribution
    let ocsp: (any OCSPAnswering)?
    let clock: any WallClock
    let logger: Logger
    let pollInterval: Duration
    /// Revocations this server has seen recorded (by any process) since it started.
    let revoked = Counter(label: "fleetkey_certificates_revoked_total")
    let published = Counter(label: "fleetkey_crls_published_total")
    /// Certificates in the registry, whichever process issued them (the registry is shared by all processes).
    let issued = Gauge(label: "fleetkey_certificates_issued")

    public init(
        store: any RegistryStore & RevocationStore, publisher: CRLPublisher,
        authorities: [String: CertificateAuthority],
        distribution: CRLDistribution, ocsp: (any OCSPAnswering)?, clock: any WallClock = SystemWallClock(),
        logger: Logger, pollInterval: Duration = .milliseconds(250)
    ) {
        self.store = store
        self.publisher = publisher
        self.authorities = authorities
        self.distribution = distribution
        self.ocsp = ocsp
        self.clock = clock
        self.logger = logger
        self.pollInterval = pollInterval
    }

    /// Signs and installs fresh CRLs for `issuers` (all authorities when nil).
    public func republish(_ issuers: Set<String>? = nil) async throws {
        for (id, authority) in authorities where issuers?.contains(id) ?? true {
            for crl in try await publisher.publish(authority) {
                distribution.install(crl)
                published.increment()
                logger.info(
                    "published CRL",
                    metadata: ["issuer": "\(id)", "scope": "\(crl.scope)", "number": "\(crl.number)"])
            }
        }
    }

    public func run() async throws {
        var cursor = try await store.lastEventSequence()
        try await republish()
        var dirty = Set<String>()
        var dirtySince: Date?
        var lastCount = Date.distantPast
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let notices = try await store.revocations(after: cursor, limit: 10_000)
                for notice in notices {
                    cursor = max(cursor, notice.sequence)
                    await ocsp?.invalidate(issuer: notice.issuer, serial: Hex.decode(notice.serial) ?? [])
                    dirty.insert(notice.issuer)
                }
                if !notices.isEmpty {
                    revoked.increment(by: notices.count)
                    dirtySince = dirtySince ?? clock.now()
                }
                // Batch a burst of revocations into one CRL per issuer, at most a second after the first one.
                if let since = dirtySince, notices.count < 10_000 || clock.now().timeIntervalSince(since) > 1 {
                    try await republish(dirty)
                    dirty.removeAll()
                    dirtySince = nil
                }
                let now = clock.now()
                let expiring = Set(
                    distribution.all.filter {
                        $0.nextUpdate.timeIntervalSince(now) < $0.nextUpdate.timeIntervalSince($0.thisUpdate) / 2
                    }
                    .map(\.issuer))
                if !expiring.isEmpty { try await republish(expiring) }
                await ocsp?.refreshCache(expiringWithin: 600)
                if now.timeIntervalSince(lastCount) > 5 {
                    issued.record(try await store.certificateCount(issuer: nil))
                    lastCount = now
                }
            } catch {
                logger.error("status refresh failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: pollInterval)
        }
    }
}
