import Foundation
import X509

/// Builds, signs and records an issuer's CRLs (RFC 5280 §5): the complete CRL and one per partition.
///
/// Each CRL is v2 with authorityKeyIdentifier and an increasing cRLNumber. Which CRLs exist follows the
/// certificates, not today's policy alone: every CRL scope that an unexpired certificate's cRLDistributionPoint names
/// (as recorded at issuance, ``CRLScope``) keeps being published, plus those of today's partition count. The complete
/// CRL has no issuingDistributionPoint and lists every revoked certificate of the issuer (§5.2.5: without one, a CRL
/// covers all of them); a partition's CRL carries a critical issuingDistributionPoint naming the partition's URL and
/// lists exactly the revoked certificates whose distribution point is that URL. Numbers come from the registry and
/// only ever increase: a CRL is stored only if its number is higher than the stored one, and the publisher re-reads
/// and renumbers when another process got there first.
public struct CRLPublisher: Sendable {
    public let store: any RevocationStore
    public let policy: EcosystemPolicy
    public let clock: any WallClock

    public init(store: any RevocationStore, policy: EcosystemPolicy, clock: any WallClock) {
        self.store = store
        self.policy = policy
        self.clock = clock
    }

    /// Publishes fresh CRLs for every scope of `authority` from the registry's revocations.
    public func publish(_ authority: CertificateAuthority) async throws -> [PublishedCRL] {
        let entries = try await store.revokedEntries(issuer: authority.id)
        var published: [PublishedCRL] = []
        for scope in try await scopes(of: authority.id) {
            let listed = entries.filter { scope == .complete || $0.scope == scope }.map(\.entry)
            published.append(try await publish(authority, scope: scope, entries: listed))
        }
        return published
    }

    /// The CRLs `issuer` publishes now: today's partitions, and every scope an unexpired certificate names.
    public func scopes(of issuer: String) async throws -> [CRLScope] {
        let named = try await store.crlScopes(issuer: issuer, unexpiredAt: clock.now())
        return Set(policy.currentCRLScopes(issuer: issuer) + named).sorted()
    }

    func publish(_ authority: CertificateAuthority, scope: CRLScope, entries: [RevokedCertificate]) async throws
        -> PublishedCRL
    {
        for _ in 0..<3 {
            let number = (try await store.latestCRL(issuer: authority.id, scope: scope)?.number ?? 0) + 1
            let now = clock.now()
            let crl = try makeCRL(authority, scope: scope, entries: entries, number: number, now: now)
            let record = PublishedCRL(
                issuer: authority.id, scope: scope, number: number, thisUpdate: crl.tbsCertList.thisUpdate,
                nextUpdate: crl.tbsCertList.nextUpdate, der: try crl.derBytes())
            if try await store.publish(record) { return record }
        }
        throw FleetkeyError(
            .conflict, "the \(scope) CRL of \(authority.id) kept being published by another process; try again")
    }

    /// Builds and signs one CRL from `entries` in the order given (the store returns them by serial).
    public func makeCRL(
        _ authority: CertificateAuthority, scope: CRLScope, entries: [RevokedCertificate], number: Int64, now: Date
    ) throws -> CertificateList {
        let validity: TimeInterval =
            authority.id == "root"
            ? Double(policy.revocation.rootCRLValidityDays) * 86_400
            : Double(policy.revocation.crlValidityHours) * 3600
        var extensions = [
            try Certificate.Extension(
                AuthorityKeyIdentifier(keyIdentifier: authority.info.keyIdentifier[...]), critical: false),
            try TBSCertList.crlNumberExtension(number),
        ]
        if case .partition = scope {
            extensions.append(
                try IssuingDistributionPoint(
                    distributionPoint: .fullName([
                        .uniformResourceIdentifier(policy.crlURL(issuer: authority.id, scope: scope))
                    ]), onlyContainsUserCerts: true
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

extension Ecosystem {
    /// Signs and records a fresh root CRL. The root key is in hand only at ceremonies (founding the ecosystem,
    /// admitting a vendor, `fleetkey crl publish --issuer root`), and `fleetkey serve` never holds it, so each
    /// ceremony leaves the registry a current root CRL for the servers to serve until the next one.
    @discardableResult
    public func publishRootCRL(into revocation: any RevocationStore) async throws -> PublishedCRL {
        let published = try await CRLPublisher(store: revocation, policy: policy, clock: clock)
            .publish(try await rootAuthority())
        guard let crl = published.first else {
            throw FleetkeyError(.storage, "no root CRL was published")
        }
        return crl
    }
}
