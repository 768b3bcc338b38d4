import FleetkeyCore
import FleetkeyRegistrySQL
import Foundation
import Logging
import PostgresNIO

/// Runs the registry's statements (``SQLRegistry``) on PostgreSQL.
///
/// Every unit is one transaction on one pooled connection (``write(_:)``). Rows a unit depends on are read with
/// `FOR SHARE` or `FOR UPDATE`, and events are appended under a transaction-scoped advisory lock, so event sequence
/// numbers are handed out in commit order: a reader that has seen event N never later finds a new event below N.
extension PostgresRegistry: SQLRegistry {
    package var dialect: SQLDialect {
        SQLDialect(
            lockForShare: " FOR SHARE", lockForUpdate: " FOR UPDATE",
            beforeAppendingEvents: SQLStatement("SELECT pg_advisory_xact_lock(?)", [.integer(Self.eventLogLockKey)]))
    }

    package func transaction(_ steps: [SQLStep]) async throws {
        let logger = self.logger
        try await write { connection in try await Self.run(steps, connection, logger) }
    }

    package func fetch<T: Sendable>(
        _ statement: SQLStatement, _ decode: @escaping @Sendable (any RegistryRow) throws -> T
    ) async throws -> [T] {
        let logger = self.logger
        let query = PostgresValues.query(statement)
        return try await read { connection in
            try await connection.query(query, logger: logger).collect().map { try decode(PostgresRegistryRow($0)) }
        }
    }

    /// Tells the operation running this task that the server answered, so its query deadline counts again.
    static func answered() {
        PooledOperationProgress.current?()
    }

    static func run(_ steps: [SQLStep], _ connection: PostgresConnection, _ logger: Logger) async throws {
        for step in steps {
            switch step {
            case .run(let statement, let expectation):
                let rows: [PostgresRow]
                do {
                    rows = try await connection.query(PostgresValues.query(statement), logger: logger).collect()
                } catch  where PostgresFailure.sqlState(error) == "23505" {
                    throw statement.meaning(
                        of: error,
                        violated: UniqueIndex.Violation(constraint: PostgresFailure.constraint(error), columns: nil))
                }
                PostgresRegistry.answered()
                try expectation?.check(rows.count)
            case .read(let statement, let next):
                let rows = try await connection.query(PostgresValues.query(statement), logger: logger).collect()
                PostgresRegistry.answered()
                try await run(next(rows.map(PostgresRegistryRow.init)), connection, logger)
            }
        }
    }
}
