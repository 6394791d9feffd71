import Synchronization

/// The time the in-memory limiters refill by: the system's monotonic clock, or in tests a clock
/// they move by hand, so that windows are tested without sleeping.
public struct LimiterClock: Sendable {
    let now: @Sendable () -> ContinuousClock.Instant

    public static let system = LimiterClock { ContinuousClock.now }

    /// A clock that stands still until ``ManualTime/advance(by:)`` moves it.
    public static func manual(_ time: ManualTime) -> LimiterClock {
        LimiterClock { time.now }
    }
}

/// Time for tests: starts at the moment it is made and moves only when told to.
public final class ManualTime: Sendable {
    private let offset = Mutex(Duration.zero)
    private let start = ContinuousClock.now

    public init() {}

    public var now: ContinuousClock.Instant { start + offset.withLock { $0 } }

    public func advance(by duration: Duration) {
        offset.withLock { $0 += duration }
    }
}
