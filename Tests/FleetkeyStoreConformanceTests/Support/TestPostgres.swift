import FleetkeyPostgres
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL server that scripts/test started for this run, and throwaway databases on it.
///
/// There is no fallback: without FLEETKEY_TEST_POSTGRES_URL every PostgreSQL test fails (it does not skip), so a
/// run that was meant to cover PostgreSQL cannot pass without it.
enum TestPostgres {
    struct ServerMissing: Error, CustomStringConvertible {
        var description: String {
            "FLEETKEY_TEST_POSTGRES_URL is not set: run scripts/test, which installs PostgreSQL 15 and starts a "
                + "throwaway server for these tests (or start one with `scripts/postgres start DIR` and export the "
                + "URL it prints)"
        }
    }

    static let logger = Logger(label: "fleetkey.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The test server, as a superuser that needs no password, connected to its `postgres` database.
    ///
    /// Its connect timeout, which also bounds how long a registry waits for a pooled connection, is 60 s rather than
    /// the default 10 s: the store suite runs dozens of PostgreSQL tests at once on a 2-core CI machine, where a
    /// lease can wait behind them for longer than 10 s although nothing is wrong. Tests of the deadline itself set
    /// their own, shorter one.
    static func server() throws -> PostgresLocation {
        guard let url = ProcessInfo.processInfo.environment["FLEETKEY_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw ServerMissing()
        }
        var location = try PostgresLocation(url: url)
        if !url.contains("connect_timeout=") { location.connectTimeout = .seconds(60) }
        return location
    }

    /// A new, empty database on `server` (the test server by default).
    static func createDatabase(on server: PostgresLocation? = nil) async throws -> PostgresLocation {
        let server = try server ?? self.server()
        let name = "fk_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await execute("CREATE DATABASE \(name)", on: server)
        var location = server
        location.database = name
        return location
    }

    /// Drops a database made by ``createDatabase(on:)``, closing whatever is still connected to it.
    static func dropDatabase(_ location: PostgresLocation) async {
        var maintenance = location
        maintenance.database = "postgres"
        try? await execute("DROP DATABASE IF EXISTS \(location.database) WITH (FORCE)", on: maintenance)
    }

    /// Runs one statement on its own connection, as the location's user, without a password.
    static func execute(_ sql: String, on location: PostgresLocation) async throws {
        try await withConnection(to: location) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
        }
    }

    /// The rows of one query, each decoded as a single string column.
    static func strings(_ sql: String, on location: PostgresLocation) async throws -> [String] {
        try await withConnection(to: location) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect().map {
                try $0.decode(String.self)
            }
        }
    }

    /// One value of type Int from a query such as `SELECT count(*) ...`.
    static func integer(_ sql: String, on location: PostgresLocation) async throws -> Int {
        try await withConnection(to: location) { connection in
            Int(
                try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect().first?.decode(
                    Int64.self) ?? -1)
        }
    }

    static func withConnection<T: Sendable>(
        to location: PostgresLocation, password: String? = nil, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: password,
            database: location.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let value = try await body(connection)
            try? await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
