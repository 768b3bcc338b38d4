import FleetkeyCore
import Foundation
import Hummingbird
import Synchronization

/// The signed deny lists served at `/denylist/ISSUER` (every revoked device of a vendor CA) and
/// `/denylist/ISSUER?since=N` (the delta since list N), made by the core's ``DenyListPublisher`` on demand and cached
/// by base number (docs/revocation.md, "Deny lists").
///
/// A cached list is served until half its validity has passed, like a CRL, or until a revocation of that issuer is
/// seen (``invalidate(issuer:)``), whichever comes first. Requests for a list being made wait for that one signing
/// instead of starting their own; a list that needs signing is first granted by the caller's allowance, so a
/// stranger asking for many bases pays in its rate limit. At most `capacityPerIssuer` lists are kept per issuer.
package final class DenyListDistribution: Sendable {
    /// A list as served: its DER and what the caching headers are made from.
    package struct Served: Sendable, Hashable {
        package var der: [UInt8]
        package var number: Int64
        package var baseNumber: Int64?
        package var thisUpdate: Date
        package var nextUpdate: Date
    }

    package let publisher: DenyListPublisher
    package let capacityPerIssuer: Int
    private let authorities: [String: CertificateAuthority]
    private let clock: any WallClock
    private let state = Mutex(State())

    private struct Key: Hashable {
        var issuer: String
        var base: Int64?
    }

    private enum Entry {
        case ready(Served)
        case making(Task<Served, any Error>, generation: UInt64)
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Bumped for an issuer by every invalidation: a list made from a registry read before it is not kept.
        var generations: [String: UInt64] = [:]
    }

    /// `authorities` are the vendor CAs whose lists are served, by authority identifier, with their signing keys.
    package init(
        publisher: DenyListPublisher, authorities: [CertificateAuthority], capacityPerIssuer: Int = 256,
        clock: any WallClock
    ) {
        self.publisher = publisher
        self.authorities = Dictionary(uniqueKeysWithValues: authorities.map { ($0.id, $0) })
        self.capacityPerIssuer = max(1, capacityPerIssuer)
        self.clock = clock
    }

    /// The issuers whose lists are served.
    package var issuers: [String] { authorities.keys.sorted() }

    /// The list of `issuer`, or its delta since list `base`; `nil` for an issuer not served here.
    ///
    /// Throws ``HTTPProblem`` 429 when the list must be signed and `allowsFreshSignature` refuses, and the core's
    /// `.invalidArgument` for a base the registry has not reached.
    package func list(issuer: String, since base: Int64?, allowingFreshSignature allowsFreshSignature: () -> Bool)
        async throws -> Served?
    {
        guard let authority = authorities[issuer] else { return nil }
        let key = Key(issuer: issuer, base: base)
        let now = clock.now()
        enum Next {
            case serve(Served)
            case wait(Task<Served, any Error>)
            case make
        }
        let next: Next = state.withLock { state in
            switch state.entries[key] {
            case .ready(let served) where Self.isFresh(served, at: now): return .serve(served)
            case .making(let task, _): return .wait(task)
            default: return .make
            }
        }
        switch next {
        case .serve(let served): return served
        case .wait(let task): return try await task.value
        case .make: break
        }
        guard allowsFreshSignature() else {
            throw HTTPProblem(
                .tooManyRequests,
                message: "too many deny lists signed for this client; try again shortly, or fetch the full list")
        }
        let publisher = publisher
        let (task, generation) = state.withLock { state in
            if case .making(let task, let generation) = state.entries[key] { return (task, generation) }
            let generation = state.generations[issuer, default: 0]
            let task = Task<Served, any Error> {
                let list = try await publisher.denyList(authority, since: base)
                return Served(
                    der: try list.derBytes(), number: list.tbs.number, baseNumber: list.tbs.baseNumber,
                    thisUpdate: list.tbs.thisUpdate, nextUpdate: list.tbs.nextUpdate)
            }
            state.entries[key] = .making(task, generation: generation)
            return (task, generation)
        }
        do {
            let served = try await task.value
            state.withLock { state in
                guard case .making(_, let current) = state.entries[key], current == generation,
                    state.generations[issuer, default: 0] == generation
                else { return }
                state.entries[key] = .ready(served)
                Self.evict(&state, issuer: issuer, keeping: capacityPerIssuer)
            }
            return served
        } catch {
            state.withLock { state in
                if case .making(_, let current) = state.entries[key], current == generation {
                    state.entries[key] = nil
                }
            }
            throw error
        }
    }

    /// Forgets every list of `issuer`: a revocation was seen, so the next request signs a list that has it.
    package func invalidate(issuer: String) {
        state.withLock { state in
            state.generations[issuer, default: 0] += 1
            state.entries = state.entries.filter { $0.key.issuer != issuer }
        }
    }

    /// Served until half its validity has passed, as CRLs are re-signed.
    static func isFresh(_ served: Served, at now: Date) -> Bool {
        now < served.thisUpdate.addingTimeInterval(served.nextUpdate.timeIntervalSince(served.thisUpdate) / 2)
    }

    /// Drops the oldest ready lists of `issuer` beyond `capacity`.
    private static func evict(_ state: inout State, issuer: String, keeping capacity: Int) {
        let ready = state.entries.compactMap { key, entry -> (Key, Date)? in
            guard key.issuer == issuer, case .ready(let served) = entry else { return nil }
            return (key, served.thisUpdate)
        }
        guard ready.count > capacity else { return }
        for (key, _) in ready.sorted(by: { $0.1 < $1.1 }).prefix(ready.count - capacity) {
            state.entries[key] = nil
        }
    }
}
