import PostgresNIO
import Synchronization

/// One operation on a pooled connection, answered exactly once by whichever comes first: its work, the lease
/// deadline, the query deadline or the caller's cancellation. The losers find the operation over and do nothing.
///
/// It exists because an operation must be able to answer its caller while its work is still stuck inside
/// postgres-nio (a lease that waits for a server that is down, a query on a connection that died as it was sent).
final class PooledOperation<Value: Sendable>: Sendable {
    private enum Phase {
        case waiting
        case leased(PostgresConnection)
        case over
    }

    private struct State {
        var phase = Phase.waiting
        var continuation: CheckedContinuation<Result<Value, any Error>, Never>?
        var work: Task<Void, Never>?
        var timer: Task<Void, any Error>?
        var wasLeased = false
        var timedOut = false
        var unanswered = false
        /// When the server last answered a statement of this operation (or when the connection was leased).
        var answeredAt = ContinuousClock.now
    }

    private let state = Mutex(State())

    /// Whether a connection was leased (so a failure came from the server or from `body`, not from the pool).
    var wasLeased: Bool { state.withLock { $0.wasLeased } }
    /// Whether no connection could be leased within the connect timeout.
    var timedOut: Bool { state.withLock { $0.timedOut } }
    /// Whether the leased connection gave no answer within the query timeout.
    var unanswered: Bool { state.withLock { $0.unanswered } }

    /// Records who to answer; `false` (after answering with `CancellationError`) if the caller is cancelled already.
    func attach(_ continuation: CheckedContinuation<Result<Value, any Error>, Never>) -> Bool {
        let over = state.withLock { state -> Bool in
            if case .over = state.phase { return true }
            state.continuation = continuation
            return false
        }
        if over { continuation.resume(returning: .failure(CancellationError())) }
        return !over
    }

    /// Records the tasks, so that whoever answers can stop the others; if the operation is over already, stops them.
    func attach(work: Task<Void, Never>, timer: Task<Void, any Error>) {
        let over = state.withLock { state -> Bool in
            if case .over = state.phase { return true }
            state.work = work
            state.timer = timer
            return false
        }
        if over {
            timer.cancel()
        }
    }

    /// Called with the connection in hand; `false` if the operation is over and the connection must not be used.
    func lease(_ connection: PostgresConnection) -> Bool {
        state.withLock { state in
            guard case .waiting = state.phase else { return false }
            state.phase = .leased(connection)
            state.wasLeased = true
            state.answeredAt = .now
            return true
        }
    }

    /// The work's own outcome.
    func finish(_ result: Result<Value, any Error>) {
        guard let (continuation, _, timer) = end({ _ in true }) else { return }
        timer?.cancel()
        continuation?.resume(returning: result)
    }

    /// The connect timeout has passed: `true` if no connection was leased by then (the operation then fails).
    func leaseDeadlinePassed() -> Bool {
        guard
            let (continuation, work, _) = end({ state in
                guard case .waiting = state.phase else { return false }
                state.timedOut = true
                return true
            })
        else { return false }
        work?.cancel()
        continuation?.resume(returning: .failure(CancellationError()))
        return true
    }

    /// The server answered a statement: the query deadline counts again from now.
    func answered() {
        state.withLock { $0.answeredAt = .now }
    }

    /// What the query deadline finds.
    enum Deadline {
        /// Over already, one way or another: nothing more to watch.
        case over
        /// The server answered within the timeout; look again at this instant.
        case watchUntil(ContinuousClock.Instant)
        /// No answer for the whole timeout: the operation failed, and this connection must be closed.
        case stuck(PostgresConnection)
    }

    /// Checks the query deadline: the operation fails once the server has given no answer for `timeout`.
    func queryDeadline(_ timeout: Duration) -> Deadline {
        var outcome = Deadline.over
        guard
            let (continuation, work, _) = end({ state in
                guard case .leased(let connection) = state.phase else { return false }
                let due = state.answeredAt.advanced(by: timeout)
                guard ContinuousClock.now >= due else {
                    outcome = .watchUntil(due)
                    return false
                }
                outcome = .stuck(connection)
                state.unanswered = true
                return true
            })
        else { return outcome }
        work?.cancel()
        continuation?.resume(returning: .failure(CancellationError()))
        return outcome
    }

    /// The caller was cancelled.
    func cancel() {
        guard let (continuation, work, timer) = end({ _ in true }) else { return }
        work?.cancel()
        timer?.cancel()
        continuation?.resume(returning: .failure(CancellationError()))
    }

    /// Ends the operation if it is not over and `condition` holds (it may mark why), handing back what to resume
    /// and stop; `nil` if somebody else ended it first or `condition` refused.
    private func end(_ condition: (inout State) -> Bool) -> (
        CheckedContinuation<Result<Value, any Error>, Never>?, Task<Void, Never>?, Task<Void, any Error>?
    )? {
        state.withLock { state in
            if case .over = state.phase { return nil }
            guard condition(&state) else { return nil }
            state.phase = .over
            defer {
                state.continuation = nil
                state.work = nil
                state.timer = nil
            }
            return (state.continuation, state.work, state.timer)
        }
    }
}

/// The pooled operation running in the current task, so that the statements of a long unit of work can say that the
/// server is still answering (``PooledOperation/answered()``).
enum PooledOperationProgress {
    @TaskLocal static var current: (@Sendable () -> Void)?
}
