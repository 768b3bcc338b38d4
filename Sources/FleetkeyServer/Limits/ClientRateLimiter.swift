import FleetkeyCore
import Foundation
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A token bucket per client: how many signatures a client may have made on demand (``ServerLimits``).
///
/// A client is its IPv4 address, or the /64 of its IPv6 address (the block one subscriber is normally given, so
/// rotating through its addresses buys nothing). Memory is bounded: at most `maximumClients` buckets; when full,
/// buckets that have refilled completely (idle clients) are forgotten, and if none has, new clients share one
/// overflow bucket, so a flood from many addresses still cannot sign without limit.
package final class ClientRateLimiter: Sendable {
    package let ratePerSecond: Double
    package let burst: Double
    package let maximumClients: Int
    private let clock: any WallClock
    private let state = Mutex<State>(State())

    private struct State {
        var buckets: [ClientKey: Bucket] = [:]
        var overflow: Bucket?
    }

    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    /// Who a request is from, for rate limiting.
    package struct ClientKey: Hashable, Sendable {
        let octets: [UInt8]

        /// The client of `address`: the IPv4 address, the IPv6 /64, or one shared key when unknown.
        package init(_ address: SocketAddress?) {
            switch address {
            case .v4(let v4):
                octets = withUnsafeBytes(of: v4.address.sin_addr) { [4] + Array($0) }
            case .v6(let v6):
                octets = withUnsafeBytes(of: v6.address.sin6_addr) { [6] + Array($0.prefix(8)) }
            default:
                octets = [0]
            }
        }
    }

    package init(
        ratePerSecond: Double, burst: Int, maximumClients: Int = 65_536, clock: any WallClock
    ) {
        self.ratePerSecond = ratePerSecond
        self.burst = Double(max(1, burst))
        self.maximumClients = max(1, maximumClients)
        self.clock = clock
    }

    package convenience init(_ limits: ServerLimits, clock: any WallClock) {
        self.init(
            ratePerSecond: limits.signaturesPerClientPerSecond, burst: limits.signatureBurstPerClient, clock: clock)
    }

    /// Takes one token from `client`'s bucket; `false` when it is empty.
    package func allow(_ client: ClientKey) -> Bool {
        let now = clock.now()
        return state.withLock { state in
            if state.buckets[client] == nil, state.buckets.count >= maximumClients {
                let idle = burst / ratePerSecond
                state.buckets = state.buckets.filter { now.timeIntervalSince($0.value.updated) < idle }
            }
            if state.buckets[client] == nil, state.buckets.count >= maximumClients {
                var shared = state.overflow ?? Bucket(tokens: burst, updated: now)
                let granted = take(&shared, now: now)
                state.overflow = shared
                return granted
            }
            var bucket = state.buckets[client] ?? Bucket(tokens: burst, updated: now)
            let granted = take(&bucket, now: now)
            state.buckets[client] = bucket
            return granted
        }
    }

    /// Seconds until `client` has a token again (for Retry-After), at least 1.
    package func retryAfterSeconds() -> Int {
        max(1, Int((1 / ratePerSecond).rounded(.up)))
    }

    private func take(_ bucket: inout Bucket, now: Date) -> Bool {
        let elapsed = max(0, now.timeIntervalSince(bucket.updated))
        bucket.tokens = min(burst, bucket.tokens + elapsed * ratePerSecond)
        bucket.updated = now
        guard bucket.tokens >= 1 else { return false }
        bucket.tokens -= 1
        return true
    }
}
