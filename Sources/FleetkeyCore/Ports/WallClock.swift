import Foundation

/// The source of "now" for the core. Injected so issuance and lifecycle logic are testable at fixed times.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The machine's real-time clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}
