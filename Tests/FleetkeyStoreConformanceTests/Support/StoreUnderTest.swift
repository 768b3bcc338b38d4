import FleetkeyCore
import FleetkeyPostgres
import FleetkeySQLite
import FleetkeyTesting
import Foundation
import GRDB
import PostgresNIO
import Testing

/// The two real stores every conformance test runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { self == .sqlite ? "SQLite" : "PostgreSQL" }
}

/// A fresh, empty registry of one kind for one test: an SQLite file in a temporary directory, or a new database on
/// the test PostgreSQL server. Also what a test needs besides the protocol: a second instance on the same database
/// (as another process would open it) and a way to send SQL past the store.
final class StoreUnderTest {
    let kind: StoreKind
    let directory: TemporaryDirectory
    let sqlitePath: String?
    let postgres: PostgresLocation?
    private(set) var opened: [any RegistryStore] = []

    /// The store under test (the first instance).
    var store: any RegistryStore { opened[0] }

    private init(kind: StoreKind, directory: TemporaryDirectory, sqlitePath: String?, postgres: PostgresLocation?) {
        self.kind = kind
        self.directory = directory
        self.sqlitePath = sqlitePath
        self.postgres = postgres
    }

    static func make(_ kind: StoreKind) async throws -> StoreUnderTest {
        let directory = try TemporaryDirectory()
        let made: StoreUnderTest
        switch kind {
        case .sqlite:
            made = StoreUnderTest(
                kind: kind, directory: directory, sqlitePath: directory.path("registry.sqlite"), postgres: nil)
        case .postgres:
            made = StoreUnderTest(
                kind: kind, directory: directory, sqlitePath: nil, postgres: try await TestPostgres.createDatabase())
        }
        _ = try made.openAnother()
        return made
    }

    /// Another store instance on the same database, with its own connections: what a second process would have.
    func openAnother() throws -> any RegistryStore {
        let store: any RegistryStore
        if let sqlitePath {
            store = try SQLiteRegistry(path: sqlitePath)
        } else {
            let registry = try PostgresRegistry(location: postgres!, password: nil)
            registry.start()
            store = registry
        }
        opened.append(store)
        return store
    }

    /// Runs SQL directly on the database, past the store, so a test can show that the database itself refuses it.
    func executeRaw(_ sql: String) async throws {
        if let sqlitePath {
            let queue = try DatabaseQueue(path: sqlitePath)
            try await queue.write { try $0.execute(sql: sql) }
        } else {
            try await TestPostgres.execute(sql, on: postgres!)
        }
    }

    /// The database's own message in an error from ``executeRaw(_:)``.
    static func databaseMessage(_ error: (any Error)?) -> String {
        if let error = error as? DatabaseError { return error.message ?? "" }
        if let error = error as? PSQLError { return error.serverInfo?[.message] ?? "" }
        return ""
    }

    func close() async {
        for case let registry as PostgresRegistry in opened { await registry.shutdown() }
        if let postgres { await TestPostgres.dropDatabase(postgres) }
    }
}

/// Runs `body` with a fresh store of `kind`, and closes it (pools shut down, database dropped) whatever happens.
func withStore<T>(_ kind: StoreKind, _ body: (StoreUnderTest) async throws -> T) async throws -> T {
    let subject = try await StoreUnderTest.make(kind)
    do {
        let value = try await body(subject)
        await subject.close()
        return value
    } catch {
        await subject.close()
        throw error
    }
}
