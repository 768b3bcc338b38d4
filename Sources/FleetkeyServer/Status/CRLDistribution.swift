import FleetkeyCore
import Foundation
import Synchronization

/// The CRLs the server hands out, by their file name in the CRL URL (`vendor-acme.crl`, `vendor-acme-p3.crl`).
///
/// Serving reads memory only; ``StatusRefreshService`` replaces entries after signing and recording new CRLs, and
/// installs the root CRL it reads from the registry.
public final class CRLDistribution: Sendable {
    private let crls = Mutex<[String: PublishedCRL]>([:])
    private let policy: EcosystemPolicy

    public init(policy: EcosystemPolicy) {
        self.policy = policy
    }

    /// The file name a CRL is published under, as the certificates' cRLDistributionPoint spells it.
    public func fileName(issuer: String, partition: Int) -> String {
        URL(string: policy.crlURL(issuer: issuer, partition: partition))?.lastPathComponent ?? "\(issuer).crl"
    }

    public func install(_ crl: PublishedCRL) {
        let name = fileName(issuer: crl.issuer, partition: crl.partition)
        crls.withLock { table in
            if (table[name]?.number ?? 0) < crl.number { table[name] = crl }
        }
    }

    public func crl(named name: String) -> PublishedCRL? {
        crls.withLock { $0[name] }
    }

    /// The CRL served for an issuer's partition.
    public func crl(issuer: String, partition: Int) -> PublishedCRL? {
        crl(named: fileName(issuer: issuer, partition: partition))
    }

    public var all: [PublishedCRL] {
        crls.withLock { Array($0.values) }
    }
}
