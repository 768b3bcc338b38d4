import FleetkeyCore
import Foundation

/// How a device retries an EST operation that failed for a reason that may pass (a server down, overloaded, or
/// waiting for the owner's approval): exponential backoff from `initialDelay`, capped at `maximumDelay`, with
/// random jitter (half to all of the delay) so a fleet that lost its server does not come back in one wave; a
/// Retry-After from the server is honoured as given.
public struct RetryPolicy: Sendable, Hashable {
    public var initialDelay: Double
    public var maximumDelay: Double
    /// Attempts in all, the first included; then the last error is thrown.
    public var maximumAttempts: Int

    public init(initialDelay: Double = 1, maximumDelay: Double = 60, maximumAttempts: Int = 12) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.maximumAttempts = maximumAttempts
    }

    /// The wait before attempt `attempt + 1`, after attempt `attempt` (from 1) failed with `error`.
    public func delay(after attempt: Int, error: ESTClientError, random: any RandomSource) -> Double {
        switch error {
        case .pending(let seconds): return Double(seconds)
        case .unavailable(_, let seconds?): return Double(seconds)
        default:
            let exponential = min(maximumDelay, initialDelay * pow(2, Double(max(0, attempt - 1))))
            return exponential * (0.5 + 0.5 * Self.unit(random))
        }
    }

    /// A uniform number in [0, 1) from the random source.
    static func unit(_ random: any RandomSource) -> Double {
        let bits = random.bytes(count: 8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } >> 11
        return Double(bits) / Double(UInt64(1) << 53)
    }
}

/// When a device renews its operational identity: after `fraction` of its lifetime, plus up to `jitter` of it at
/// random (the owner's `enrollment.renewAtFraction` and `renewJitterFraction`).
public struct RenewalSchedule: Sendable, Hashable {
    public var fraction: Double
    public var jitter: Double

    public init(fraction: Double, jitter: Double) {
        self.fraction = fraction
        self.jitter = jitter
    }

    public init(_ policy: EnrollmentPolicy) {
        self.init(fraction: policy.renewAtFraction, jitter: policy.renewJitterFraction)
    }

    public func renewalTime(notBefore: Date, notAfter: Date, random: any RandomSource) -> Date {
        let lifetime = notAfter.timeIntervalSince(notBefore)
        return notBefore.addingTimeInterval(lifetime * (fraction + jitter * RetryPolicy.unit(random)))
    }
}
