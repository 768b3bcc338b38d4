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

    /// The query timeout has passed since the lease: the connection to close, if the work had not answered.
    func queryDeadlinePassed() -> PostgresConnection? {
        var stuck: PostgresConnection?
        guard
            let (continuation, work, _) = end({ state in
                guard case .leased(let connection) = state.phase else { return false }
                stuck = connection
                state.unanswered = true
                return true
            })
        else { return nil }
        work?.cancel()
        continuation?.resume(returning: .failure(CancellationError()))
        return stuck
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
