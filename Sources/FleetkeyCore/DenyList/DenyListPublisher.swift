import Foundation
import X509

/// Builds a vendor CA's deny list from the registry: every revoked device certificate, or only those revoked after
/// an earlier list (a delta), signed with the CA's key like its CRLs.
public struct DenyListPublisher: Sendable {
    public let store: any RevocationStore
    public let policy: EcosystemPolicy
    public let clock: any WallClock

    public init(store: any RevocationStore, policy: EcosystemPolicy, clock: any WallClock) {
        self.store = store
        self.policy = policy
        self.clock = clock
    }

    /// The list of `authority`; a delta of what was revoked after list `base` when `base` is given.
    ///
    /// Its number is the registry's newest event sequence, read before the entries: a revocation that lands while
    /// the list is built may appear in it and again in the next delta (applying an entry twice is harmless), never
    /// in neither.
    public func denyList(_ authority: CertificateAuthority, since base: Int64? = nil) async throws -> DenyList {
        let number = try await store.lastEventSequence()
        if let base, base > number {
            throw FleetkeyError(
                .invalidArgument,
                "deny list \(base) is newer than the registry (\(number)): a relying party cannot be ahead of its source"
            )
        }
        var refs: [CertificateRef]
        if let base {
            var notices: [RevocationNotice] = []
            var after = base
            while true {
                let page = try await store.revocations(after: after, limit: 10_000)
                notices += page.filter { $0.issuer == authority.id }
                guard let last = page.last, page.count == 10_000 else { break }
                after = last.sequence
            }
            refs = []
            for notice in notices {
                refs += try await store.certificateRefs(.certificate(issuer: notice.issuer, serial: notice.serial))
            }
        } else {
            refs = try await store.certificateRefs(.issuer(authority.id))
        }
        let entries = refs.compactMap { ref -> DenyListEntry? in
            guard ref.status == .revoked, let device = ref.device, let revocation = ref.revocation else { return nil }
            return DenyListEntry(
                device: device.serial.value, certificateSerial: Hex.decode(ref.serial) ?? [],
                revocationDate: revocation.revokedAt, reason: revocation.reason)
        }
        let now = clock.now()
        let tbs = TBSDenyList(
            signature: try SignatureAlgorithmIdentifier(authority.keySpec.signatureAlgorithm),
            issuer: authority.certificate.subject, number: number, baseNumber: base, thisUpdate: now,
            nextUpdate: now.addingTimeInterval(Double(policy.revocation.crlValidityHours) * 3600), entries: entries)
        return try DenyList(signing: tbs, with: authority.signingKey, algorithm: authority.keySpec.signatureAlgorithm)
    }
}
