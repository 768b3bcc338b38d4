import FleetkeyCore
import Foundation
import Synchronization

/// A clock that says what it is told: tests of validity periods, sunsets and event times.
public final class FixedClock: WallClock {
    private let current: Mutex<Date>

    public init(_ date: Date) {
        current = Mutex(date)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}
