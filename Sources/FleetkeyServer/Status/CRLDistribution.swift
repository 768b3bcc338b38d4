import FleetkeyCore
import Foundation
import Synchronization

/// The CRLs the server hands out, by their file name in the CRL URL (`vendor-acme.crl`, `vendor-acme-p3.crl`).
///
/// Serving reads memory only; ``StatusRefreshService`` replaces entries after signing and recording new CRLs, and
/// installs the root CRL it reads from the registry.
package final class CRLDistribution: Sendable {
    private let crls = Mutex<[String: PublishedCRL]>([:])
    private let policy: EcosystemPolicy

    package init(policy: EcosystemPolicy) {
        self.policy = policy
    }

    /// The file name a CRL is published under, as the certificates' cRLDistributionPoint spells it.
    package func fileName(issuer: String, scope: CRLScope) -> String {
        URL(string: policy.crlURL(issuer: issuer, scope: scope))?.lastPathComponent
            ?? scope.fileStem(issuer: issuer) + ".crl"
    }

    package func install(_ crl: PublishedCRL) {
        let name = fileName(issuer: crl.issuer, scope: crl.scope)
        crls.withLock { table in
            if (table[name]?.number ?? 0) < crl.number { table[name] = crl }
        }
    }

    package func crl(named name: String) -> PublishedCRL? {
        crls.withLock { $0[name] }
    }

    /// The CRL served for one of an issuer's CRL scopes.
    package func crl(issuer: String, scope: CRLScope) -> PublishedCRL? {
        crl(named: fileName(issuer: issuer, scope: scope))
    }

    package var all: [PublishedCRL] {
        crls.withLock { Array($0.values) }
    }
}
