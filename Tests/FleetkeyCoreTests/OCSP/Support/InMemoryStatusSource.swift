import FleetkeyCore
import Synchronization

/// A status source held in memory: what the registry would answer, set by the test.
final class InMemoryStatusSource: CertificateStatusSource {
    private struct State {
        var statuses: [String: RevocationStatus] = [:]
        var failing = false
        var lookups = 0
    }

    private let state = Mutex(State())

    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "registry connection refused at 10.0.0.7:5432 (secret detail)" }
    }

    func status(issuer: String, serial: [UInt8]) async throws -> RevocationStatus {
        try state.withLock { state in
            state.lookups += 1
            if state.failing { throw Unavailable() }
            return state.statuses[Self.key(issuer, serial)] ?? .unknown
        }
    }

    func set(_ status: RevocationStatus, issuer: String, serial: [UInt8]) {
        state.withLock { $0.statuses[Self.key(issuer, serial)] = status }
    }

    func setFailing(_ failing: Bool) {
        state.withLock { $0.failing = failing }
    }

    var lookups: Int { state.withLock { $0.lookups } }

    private static func key(_ issuer: String, _ serial: [UInt8]) -> String {
        issuer + "/" + Hex.upper(serial)
    }
}
