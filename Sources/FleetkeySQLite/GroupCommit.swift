import FleetkeyCore
import Foundation
import GRDB
import Synchronization

/// Group commit for issuance: records submitted while a transaction is being written wait and are written
/// together in the next one, each inside its own savepoint.
///
/// A SQLite commit costs about the same for one issuance as for a hundred (the WAL frames of the touched
/// pages), so concurrent issuers share it. Every caller is resumed only after the transaction holding its
/// record committed, so no certificate is handed out unrecorded; a record that fails (a duplicate serial, a
/// device conflict) rolls back its own savepoint and fails alone.
final class GroupCommit: Sendable {
    typealias Write = @Sendable ([IssuanceUnit]) async -> [Result<Void, any Error>]

    private struct Pending {
        var unit: IssuanceUnit
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var draining = false
    }

    /// The most records one transaction holds, so one commit's latency stays bounded.
    static let maximumBatch = 256

    private let state = Mutex(State())
    private let write: Write

    init(write: @escaping Write) {
        self.write = write
    }

    func submit(_ unit: IssuanceUnit) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let start = state.withLock { state in
                state.pending.append(Pending(unit: unit, continuation: continuation))
                if state.draining { return false }
                state.draining = true
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = Array(state.pending.prefix(Self.maximumBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            let results = await write(batch.map(\.unit))
            for (pending, result) in zip(batch, results) {
                pending.continuation.resume(with: result)
            }
        }
    }
}
