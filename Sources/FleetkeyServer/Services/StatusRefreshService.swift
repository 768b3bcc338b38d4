import FleetkeyCore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Keeps published status fresh: learns of revocations (from any process, through the registry), invalidates
/// OCSP answers and deny lists at once, republishes the affected CRLs within a second, re-signs CRLs and OCSP
/// answers ahead of their nextUpdate, and picks up the root CRL a key ceremony published.
///
/// It signs only with the vendor CA keys it is given. The root's CRL is never signed here (the root key stays
/// offline): it is read from the registry, where `fleetkey crl publish --issuer root` stores it, at start and every
/// few seconds, and ``StatusHealth`` warns as its nextUpdate nears.
///
/// On start it republishes every vendor CRL, so a server that was killed mid-burst serves CRLs that include every
/// revocation the registry acknowledged; CRL numbers come from the registry and never go backwards. Give it a
/// registry connection of its own (a second store instance), so a flood of requests cannot starve the poll and
/// leave revoked certificates answered `good`.
package struct StatusRefreshService: Service {
    let store: any RegistryStore & RevocationStore
    let publisher: CRLPublisher
    let authorities: [String: CertificateAuthority]
    let distribution: CRLDistribution
    let ocsp: (any OCSPAnswering)?
    let denyLists: DenyListDistribution?
    let health: StatusHealth?
    let clock: any WallClock
    let logger: Logger
    let pollInterval: Duration
    /// How often the root CRL and the certificate count are re-read from the registry, in seconds.
    let slowPollSeconds: TimeInterval
    private let state = RefreshState()
    /// Revocations this server has seen recorded (by any process) since it started.
    let revoked = Counter(label: "fleetkey_certificates_revoked_total")
    let published = Counter(label: "fleetkey_crls_published_total")
    /// Certificates in the registry, whichever process issued them (the registry is shared by all processes).
    let issued = Gauge(label: "fleetkey_certificates_issued")

    /// The authority whose CRL is published elsewhere (at key ceremonies) and only served here.
    package static let offlineIssuer = "root"

    /// - Parameter authorities: the vendor CAs whose CRLs this server signs, with their keys; never the root.
    package init(
        store: any RegistryStore & RevocationStore, publisher: CRLPublisher,
        authorities: [String: CertificateAuthority],
        distribution: CRLDistribution, ocsp: (any OCSPAnswering)?, denyLists: DenyListDistribution? = nil,
        health: StatusHealth? = nil, clock: any WallClock, logger: Logger,
        pollInterval: Duration = .milliseconds(250), slowPollSeconds: TimeInterval = 5
    ) {
        self.store = store
        self.publisher = publisher
        self.authorities = authorities.filter { $0.key != Self.offlineIssuer }
        self.distribution = distribution
        self.ocsp = ocsp
        self.denyLists = denyLists
        self.health = health
        self.clock = clock
        self.logger = logger
        self.pollInterval = pollInterval
        self.slowPollSeconds = slowPollSeconds
    }

    /// Loads the root CRL and republishes every vendor CRL, once: the server calls it before it starts listening,
    /// so its first answers already have them; ``run()`` calls it too, and it does nothing the second time.
    package func prepare() async throws {
        guard state.progress.withLock({ $0.cursor }) == nil else { return }
        // Read before publishing: a revocation recorded meanwhile is then polled, never missed.
        let cursor = try await store.lastEventSequence()
        try await reloadRootCRL()
        try await republish()
        state.progress.withLock { $0.cursor = $0.cursor ?? cursor }
    }

    /// Signs and installs fresh CRLs for `issuers` (all vendor authorities when nil).
    package func republish(_ issuers: Set<String>? = nil) async throws {
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

    /// Serves the newest root CRL the registry holds (a ceremony may have published one since the last look).
    package func reloadRootCRL() async throws {
        if let crl = try await store.latestCRL(issuer: Self.offlineIssuer, scope: .complete) {
            let before = distribution.crl(issuer: Self.offlineIssuer, scope: .complete)?.number
            distribution.install(crl)
            if before != crl.number, crl.number > (before ?? 0) {
                logger.info("serving the root CRL published at a key ceremony", metadata: ["number": "\(crl.number)"])
            }
        }
        health?.serving(rootCRL: distribution.crl(issuer: Self.offlineIssuer, scope: .complete))
    }

    /// One round of upkeep: revocations recorded since the last round, CRLs due for re-signing, OCSP answers near
    /// their nextUpdate and, every few seconds, the root CRL and the certificate count. ``run()`` calls it every
    /// poll interval; it starts from where ``prepare()`` read the registry.
    package func refresh() async throws {
        try await prepare()
        let cursor = state.progress.withLock { $0.cursor } ?? 0
        let notices = try await store.revocations(after: cursor, limit: 10_000)
        var dirty = Set<String>()
        for issuer in Set(notices.map(\.issuer)) { denyLists?.invalidate(issuer: issuer) }
        for notice in notices {
            await ocsp?.invalidate(issuer: notice.issuer, serial: Hex.decode(notice.serial) ?? [])
            if notice.issuer == Self.offlineIssuer {
                logger.warning(
                    """
                    a certificate the root issued was revoked; the root CRL lists it only once \
                    `fleetkey crl publish --issuer root` runs where the root key is kept
                    """,
                    metadata: ["serial": "\(notice.serial)"])
            } else {
                dirty.insert(notice.issuer)
            }
        }
        if !notices.isEmpty { revoked.increment(by: notices.count) }
        let now = clock.now()
        let (due, slowPollDue) = state.progress.withLock { progress in
            progress.cursor = max(cursor, notices.last?.sequence ?? cursor)
            progress.dirty.formUnion(dirty)
            if !progress.dirty.isEmpty { progress.dirtySince = progress.dirtySince ?? now }
            // Batch a burst of revocations into one CRL per issuer, at most a second after the first one.
            var due = Set<String>()
            if let since = progress.dirtySince, notices.count < 10_000 || now.timeIntervalSince(since) > 1 {
                due = progress.dirty
                progress.dirty.removeAll()
                progress.dirtySince = nil
            }
            let slowPollDue = now.timeIntervalSince(progress.lastSlowPoll) >= slowPollSeconds
            if slowPollDue { progress.lastSlowPoll = now }
            return (due, slowPollDue)
        }
        do {
            if !due.isEmpty { try await republish(due) }
        } catch {
            // Still dirty: the next round tries again.
            state.progress.withLock { progress in
                progress.dirty.formUnion(due)
                progress.dirtySince = progress.dirtySince ?? now
            }
            throw error
        }
        let expiring = Set(
            distribution.all.filter {
                authorities[$0.issuer] != nil
                    && $0.nextUpdate.timeIntervalSince(now) < $0.nextUpdate.timeIntervalSince($0.thisUpdate) / 2
            }
            .map(\.issuer))
        if !expiring.isEmpty { try await republish(expiring) }
        await ocsp?.refreshCache(expiringWithin: 600)
        if slowPollDue {
            try await reloadRootCRL()
            issued.record(try await store.certificateCount(issuer: nil))
        }
    }

    package func run() async throws {
        try await prepare()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await refresh()
            } catch {
                logger.error("status refresh failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: pollInterval)
        }
    }
}

/// Where the refresher is between rounds.
struct RefreshProgress {
    /// The last event seen; `nil` until ``StatusRefreshService/prepare()`` has run.
    var cursor: Int64?
    var dirty = Set<String>()
    var dirtySince: Date?
    var lastSlowPoll = Date.distantPast
}

/// The refresher's state between rounds, shared by the copies of the service value.
final class RefreshState: Sendable {
    let progress = Mutex(RefreshProgress())
}
