import Foundation
import Synchronization

/// A bounded in-memory map invalidated as a whole. A value computed from the database is stored
/// only if no invalidation happened while it was being computed (`generation` unchanged), so a
/// change can never be overwritten by an answer that predates it.
final class InvalidatedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var entries: [Key: Value] = [:]
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    subscript(key: Key) -> Value? { state.withLock { $0.entries[key] } }

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Stores `value` unless the cache was invalidated since `generation` was read.
    func store(_ value: Value, for key: Key, ifStill generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = value
        }
    }

    func invalidate() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }
}
