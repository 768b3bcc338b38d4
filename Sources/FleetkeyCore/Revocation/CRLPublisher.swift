import Foundation
import X509

/// Builds, signs and records an issuer's CRLs (RFC 5280 §5): one per partition.
///
/// Each CRL is v2 with authorityKeyIdentifier and an increasing cRLNumber; a partitioned CRL also carries a
/// critical issuingDistributionPoint naming the partition's URL, the same URL its certificates' cRLDistributionPoint
/// names. Numbers come from the registry and only ever increase: a CRL is stored only if its number is higher than
/// the stored one, and the publisher re-reads and renumbers when another process got there first.
public struct CRLPublisher: Sendable {
    public let store: any RevocationStore
    public let policy: EcosystemPolicy
    public let clock: any WallClock

    public init(store: any RevocationStore, policy: EcosystemPolicy, clock: any WallClock = SystemWallClock()) {
        self.store = store
        self.policy = policy
        self.clock = clock
    }

    /// Publishes fresh CRLs for every partition of `authority` from the registry's revocations.
    public func publish(_ authority: CertificateAuthority) async throws -> [PublishedCRL] {
        let entries = try await store.revokedEntries(issuer: authority.id)
        let partitions = policy.crlPartitionCount(issuer: authority.id)
        var byPartition = [[RevokedCertificate]](repeating: [], count: partitions)
        for entry in entries {
            byPartition[CRLPartition.index(serial: entry.serial, of: partitions)].append(entry)
        }
        var published: [PublishedCRL] = []
        for partition in 0..<partitions {
            published.append(try await publish(authority, partition: partition, entries: byPartition[partition]))
        }
        return published
    }

    func publish(_ authority: CertificateAuthority, partition: Int, entries: [RevokedCertificate]) async throws
        -> PublishedCRL
    {
        for _ in 0..<3 {
            let number = (try await store.latestCRL(issuer: authority.id, partition: partition)?.number ?? 0) + 1
            let now = clock.now()
            let crl = try makeCRL(authority, partition: partition, entries: entries, number: number, now: now)
            let record = PublishedCRL(
                issuer: authority.id, partition: partition, number: number, thisUpdate: crl.tbsCertList.thisUpdate,
                nextUpdate: crl.tbsCertList.nextUpdate, der: try crl.derBytes())
            if try await store.publish(record) { return record }
        }
        throw FleetkeyError(
            .conflict, "CRL for \(authority.id) partition \(partition) kept being published by another process")
    }

    /// Builds and signs one CRL from `entries` in the order given (the store returns them by serial).
    public func makeCRL(
        _ authority: CertificateAuthority, partition: Int, entries: [RevokedCertificate], number: Int64, now: Date
    ) throws -> CertificateList {
        let validity: TimeInterval =
            authority.id == "root"
            ? Double(policy.revocation.rootCRLValidityDays) * 86_400 : Double(policy.revocation.crlValidityHours) * 3600
        var extensions = [
            try Certificate.Extension(
                AuthorityKeyIdentifier(keyIdentifier: authority.info.keyIdentifier[...]), critical: false),
            try TBSCertList.crlNumberExtension(number),
        ]
        if policy.crlPartitionCount(issuer: authority.id) > 1 {
            let url = policy.crlURL(issuer: authority.id, partition: partition)
            extensions.append(
                try IssuingDistributionPoint(
                    distributionPoint: .fullName([.uniformResourceIdentifier(url)]), onlyContainsUserCerts: true
                ).makeExtension())
        }
        let tbs = TBSCertList(
            signature: try SignatureAlgorithmIdentifier(authority.keySpec.signatureAlgorithm),
            issuer: authority.certificate.subject,
            thisUpdate: now, nextUpdate: now.addingTimeInterval(validity),
            revokedCertificates: entries, extensions: extensions)
        return try CertificateList(
            signing: tbs, with: authority.signingKey, algorithm: authority.keySpec.signatureAlgorithm)
    }
}
