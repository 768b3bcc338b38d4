import FleetkeyCore
import FleetkeyRegistrySQL
import Foundation
import GRDB

/// The embedded registry: one SQLite file in WAL mode, through GRDB; or, for tests and experiments, an in-memory
/// database with the same schema and rules.
///
/// The registry's operations are written once for every SQL store (``SQLRegistry``); this type runs them: each
/// unit in one transaction (`BEGIN IMMEDIATE`, so a unit that reads before it writes holds the write lock from its
/// start), concurrent issuances grouped into one commit (``GroupCommit``).
///
/// Durability: WAL with `synchronous=FULL`. Every commit that acknowledges something (a certificate handed out, a
/// revocation, a CRL number served) has reached the disk, WAL fsynced, before the caller hears of it, so it
/// survives a power loss as well as a killed process. Group commit shares one sync among the issuances it holds.
package final class SQLiteRegistry: SQLRegistry {
    let writer: any DatabaseWriter
    /// The database file, or `:memory:`.
    package let path: String
    private let issuances: GroupCommit
    package var dialect: SQLDialect { Self.dialect }
    static let dialect = SQLDialect(lockForShare: "", lockForUpdate: "", beforeAppendingEvents: nil)

    /// Opens (creating if needed) the registry at `path` and applies pending migrations.
    package convenience init(path: String) throws {
        var configuration = Self.configuration
        configuration.prepareDatabase { db in
            // Serials, key fingerprints and event subjects are random keys: every insert lands on another index
            // page. A 64 MiB page cache keeps those pages in memory, and checkpointing every 16k pages (64 MiB of
            // WAL) rather than SQLite's default 1k lets a hot page be rewritten many times per checkpoint and fsync.
            try db.execute(sql: "PRAGMA cache_size = -65536")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB sets synchronous=NORMAL on the writer when it enables WAL, after prepareDatabase: set FULL here, on
            // the one connection that writes, and check that it holds.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
                    throw FleetkeyError(.storage, "SQLite did not accept synchronous=FULL for \(path)")
                }
            }
        } catch let error as FleetkeyError {
            throw error
        } catch {
            throw FleetkeyError(.storage, "cannot open the registry at \(path): \(Self.describe(error))")
        }
        try self.init(writer: pool, path: path)
    }

    /// A registry in memory: the same schema, constraints and statements as a file, kept by nothing.
    package static func inMemory() throws -> SQLiteRegistry {
        try SQLiteRegistry(writer: try DatabaseQueue(configuration: configuration), path: ":memory:")
    }

    private static var configuration: Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        return configuration
    }

    private init(writer: any DatabaseWriter, path: String) throws {
        do {
            try RegistrySchema.migrator.migrate(writer)
        } catch {
            throw FleetkeyError(.storage, "cannot open the registry at \(path): \(Self.describe(error))")
        }
        self.writer = writer
        self.path = path
        self.issuances = GroupCommit { units in
            do {
                return try await writer.write { db in
                    units.map { unit in
                        Result {
                            try db.inSavepoint {
                                try Self.run(RegistrySQL.record(unit, Self.dialect), db)
                                return .commit
                            }
                        }.mapError(Self.storageError)
                    }
                }
            } catch {
                return units.map { _ in .failure(Self.storageError(error)) }
            }
        }
    }

    /// The names of the migrations applied to this registry, in order.
    package func appliedMigrations() throws -> [String] {
        try writer.read { db in try RegistrySchema.migrator.appliedMigrations(db) }
    }

    /// Records one issuance; concurrent calls share a transaction (``GroupCommit``), each in its own savepoint, so a
    /// failing one (a duplicate serial, a revoked vendor) fails alone.
    package func record(_ issuance: IssuanceUnit) async throws {
        try await issuances.submit(issuance)
    }

    // MARK: Running the registry's statements

    package func transaction(_ steps: [SQLStep]) async throws {
        do {
            try await writer.write { db in try Self.run(steps, db) }
        } catch {
            throw Self.storageError(error)
        }
    }

    package func fetch<T: Sendable>(
        _ statement: SQLStatement, _ decode: @escaping @Sendable (any RegistryRow) throws -> T
    ) async throws -> [T] {
        do {
            return try await writer.read { db in
                let rows = try Row.fetchCursor(
                    db.cachedStatement(sql: statement.sql), arguments: SQLiteValues.arguments(statement.values))
                var records: [T] = []
                while let row = try rows.next() { records.append(try decode(SQLiteRow(row: row))) }
                return records
            }
        } catch let error as FleetkeyError {
            throw error
        } catch {
            throw FleetkeyError(.storage, "registry read failed: \(Self.describe(error))")
        }
    }

    static func run(_ steps: [SQLStep], _ db: Database) throws {
        for step in steps {
            switch step {
            case .run(let statement, let expectation):
                do {
                    let prepared = try db.cachedStatement(sql: statement.sql)
                    let arguments = SQLiteValues.arguments(statement.values)
                    if let expectation {
                        try expectation.check(try Row.fetchAll(prepared, arguments: arguments).count)
                    } else {
                        try prepared.execute(arguments: arguments)
                    }
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    throw statement.meaning(of: error, violated: uniqueViolation(error))
                }
            case .read(let statement, let next):
                let rows = try Row.fetchAll(
                    db.cachedStatement(sql: statement.sql), arguments: SQLiteValues.arguments(statement.values))
                try run(next(rows.map { SQLiteRow(row: $0) }), db)
            }
        }
    }

    /// The index a unique violation is about, from SQLite's "UNIQUE constraint failed: t.a, t.b".
    static func uniqueViolation(_ error: DatabaseError) -> UniqueIndex.Violation? {
        guard
            [.SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY].contains(error.extendedResultCode),
            let message = error.message, let range = message.range(of: "UNIQUE constraint failed: ")
        else { return nil }
        return UniqueIndex.Violation(constraint: nil, columns: String(message[range.upperBound...]))
    }

    /// Errors as callers see them: Fleetkey's own and duplicate serials unchanged, anything else a storage error.
    static func storageError(_ error: any Error) -> any Error {
        if isRegistryOutcome(error) { return error }
        return FleetkeyError(.storage, "registry write failed, nothing was recorded: \(describe(error))")
    }

    /// SQLite's message without the SQL arguments (which could hold identifiers a log should not repeat).
    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "\(error.resultCode): \(error.message ?? "no message")"
        }
        return "\(error)"
    }
}
