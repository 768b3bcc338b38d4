import FleetkeyCore
import Foundation
import Synchronization

/// A ``StatusFetcher`` that reuses a fetched CRL for a short while, so a server checking thousands of factory
/// identities a minute does not download its vendor's CRL for each one.
///
/// Only GETs (CRLs) are kept, and for at most `maximumAge` seconds; the core still verifies every use (signature,
/// issuer, and that it is current), so a kept CRL past its nextUpdate counts for nothing. OCSP posts are never kept.
final class CachingStatusFetcher: StatusFetcher {
    let upstream: any StatusFetcher
    let maximumAge: TimeInterval
    let clock: any WallClock
    private let kept = Mutex<[String: (bytes: [UInt8], fetchedAt: Date)]>([:])

    init(_ upstream: any StatusFetcher, maximumAge: TimeInterval, clock: any WallClock) {
        self.upstream = upstream
        self.maximumAge = maximumAge
        self.clock = clock
    }

    func get(_ url: String) async throws -> [UInt8] {
        let now = clock.now()
        if maximumAge > 0, let entry = kept.withLock({ $0[url] }), now.timeIntervalSince(entry.fetchedAt) < maximumAge {
            return entry.bytes
        }
        let bytes = try await upstream.get(url)
        if maximumAge > 0 { kept.withLock { $0[url] = (bytes, now) } }
        return bytes
    }

    func post(_ url: String, body: [UInt8], contentType: String) async throws -> [UInt8] {
        try await upstream.post(url, body: body, contentType: contentType)
    }
}
