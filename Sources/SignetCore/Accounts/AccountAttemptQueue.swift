import Synchronization

/// Runs password attempts on one account one at a time on this node, so that a burst of
/// concurrent guesses meets the lockout exactly as a sequence would, while an owner's concurrent
/// logins all go through (each sees the previous one's success). Across nodes the reservation in
/// the database (``LoginAttemptStore``) still bounds what is evaluated.
///
/// At most `waitingLimit` attempts wait per account; more are turned away at once with
/// ``SignetError/hashingOverloaded`` (503 + Retry-After), like a full hashing queue.
public final class AccountAttemptQueue: Sendable {
    private struct Entry {
        var waiting: [CheckedContinuation<Void, any Error>] = []
    }

    private enum Admission {
        case run, wait, refuse
    }

    private let entries = Mutex<[String: Entry]>([:])
    let waitingLimit: Int

    public init(waitingLimit: Int) {
        self.waitingLimit = max(1, waitingLimit)
    }

    /// Runs `body` once no other attempt on `account` is running here.
    public func run<T: Sendable>(account: String, _ body: () async throws -> T) async throws -> T {
        try await acquire(account)
        defer { release(account) }
        return try await body()
    }

    private func acquire(_ account: String) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let admission: Admission = entries.withLock { entries in
                guard var entry = entries[account] else {
                    entries[account] = Entry()
                    return .run
                }
                guard entry.waiting.count < waitingLimit else { return .refuse }
                entry.waiting.append(continuation)
                entries[account] = entry
                return .wait
            }
            switch admission {
            case .run: continuation.resume()
            case .refuse: continuation.resume(throwing: SignetError.hashingOverloaded)
            case .wait: break
            }
        }
    }

    private func release(_ account: String) {
        let next: CheckedContinuation<Void, any Error>? = entries.withLock { entries in
            guard var entry = entries[account], !entry.waiting.isEmpty else {
                entries[account] = nil
                return nil
            }
            let next = entry.waiting.removeFirst()
            entries[account] = entry
            return next
        }
        next?.resume()
    }
}
