import FleetkeyCore
import Foundation
import Synchronization

/// A registry kept in an SQL database: what a store must provide so that the registry's operations
/// (``RegistryStore``, ``RevocationStore``, ``SupplyChainStore``, ``EnrollmentStore``), written once in this module, run on it.
///
/// A store brings a connection and transactions, turns the registry's values and rows into its driver's, and
/// reports unique violations by index; it holds no rules of its own. SQLite and PostgreSQL are the two.
package protocol SQLRegistry:
    RegistryStore, RevocationStore, SupplyChainStore, EnrollmentStore, AccessStore, FleetOperationsStore
{
    var dialect: SQLDialect { get }

    /// Runs `steps` in order in one transaction, which commits only if every step succeeded. A failed step's
    /// error is thrown as ``SQLStatement/meaning(of:violated:)`` says, after the rollback.
    func transaction(_ steps: [SQLStep]) async throws

    /// One read, outside any explicit transaction, each row made a record by `decode` as it is read.
    func fetch<T: Sendable>(_ statement: SQLStatement, _ decode: @escaping @Sendable (any RegistryRow) throws -> T)
        async throws -> [T]
}

extension SQLRegistry {
    /// Like ``fetch(_:_:)`` over IN lists of at most 500 values, so any number of keys can be looked up.
    func fetch<T: Sendable>(
        chunking values: [SQLValue], _ statement: (Int) -> SQLStatement,
        _ decode: @escaping @Sendable (any RegistryRow) throws -> T
    ) async throws -> [T] {
        var result: [T] = []
        for start in stride(from: 0, to: values.count, by: 500) {
            let chunk = Array(values[start..<min(values.count, start + 500)])
            var query = statement(chunk.count)
            query.values += chunk
            result += try await fetch(query, decode)
        }
        return result
    }

    /// Runs a unit whose last step decides a result, which is returned once the unit committed.
    func transaction<T: Sendable>(returning initial: T, _ build: (ResultBox<T>) -> [SQLStep]) async throws -> T {
        let box = ResultBox(initial)
        try await transaction(build(box))
        return box.value
    }
}

/// Carries a value decided inside a transaction's steps out of it, once it committed.
package final class ResultBox<T: Sendable>: Sendable {
    private let storage: Mutex<T>

    init(_ value: T) { storage = Mutex(value) }

    package var value: T {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// Thrown by a step to end its unit without writing, when there is nothing to do (a manifest imported before, a CRL
/// number already stored); stores pass it through untouched, like Fleetkey's own errors.
package struct NothingToWrite: Error {}

/// Whether a store passes `error` on as it is: Fleetkey's own errors, a duplicate serial (the caller draws another),
/// and the end of a unit with nothing to write. Anything else is the database's failure, which a store reports as
/// a storage error in its own words.
package func isRegistryOutcome(_ error: any Error) -> Bool {
    error is FleetkeyError || error is DuplicateSerialError || error is NothingToWrite
}
