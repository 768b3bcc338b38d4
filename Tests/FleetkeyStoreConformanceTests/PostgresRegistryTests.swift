import FleetkeyCore
import FleetkeyPostgres
import FleetkeySQLite
import FleetkeyTesting
import Foundation
import GRDB
import Testing

/// What is particular to PostgreSQL: migrations shared by many processes, the schema's parity with SQLite's,
/// connection failures, and passwords.
@Suite("PostgreSQL registry")
struct PostgresRegistryTests {
    /// A password for the `fleetkey_scram` role, which scripts/postgres makes the server check with SCRAM-SHA-256.
    static let scramPassword = "scram-Test-Password-4f1c"

    /// A database owned by `fleetkey_scram`, a role that must authenticate with ``scramPassword``.
    static func scramDatabase() async throws -> PostgresLocation {
        let server = try TestPostgres.server()
        try await TestPostgres.execute(
            """
            DO $$ BEGIN
                CREATE ROLE fleetkey_scram LOGIN PASSWORD '\(scramPassword)';
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                ALTER ROLE fleetkey_scram LOGIN PASSWORD '\(scramPassword)';
            END $$
            """, on: server)
        var location = try await TestPostgres.createDatabase()
        try await TestPostgres.execute("ALTER DATABASE \(location.database) OWNER TO fleetkey_scram", on: server)
        location.user = "fleetkey_scram"
        return location
    }

    @Test("the schema comes from named, ordered migrations, recorded in the database and applied once")
    func migrations() async throws {
        let location = try await TestPostgres.createDatabase()
        let registry = try PostgresRegistry(location: location, password: nil)
        registry.start()
        #expect(try await registry.appliedMigrations() == [])
        #expect(
            try await registry.migrate() == [
                "v1-registry", "v2-revocation", "v3-supply-chain", "v4-one-device-per-key", "v5-fail-closed",
                "v6-enrollment", "v7-fleet-operations",
            ])
        #expect(
            try await registry.appliedMigrations() == [
                "v1-registry", "v2-revocation", "v3-supply-chain", "v4-one-device-per-key", "v5-fail-closed",
                "v6-enrollment", "v7-fleet-operations",
            ])
        #expect(
            try await registry.migrate() == [
                "v1-registry", "v2-revocation", "v3-supply-chain", "v4-one-device-per-key", "v5-fail-closed",
                "v6-enrollment", "v7-fleet-operations",
            ])
        #expect(try await TestPostgres.integer("SELECT count(*) FROM fleetkey_migrations", on: location) == 7)
        await registry.shutdown()
        await TestPostgres.dropDatabase(location)
    }

    @Test("eight processes opening a fresh database at once migrate it exactly once")
    func concurrentMigrations() async throws {
        let location = try await TestPostgres.createDatabase()
        let registries = try (0..<8).map { _ in try PostgresRegistry(location: location, password: nil) }
        for registry in registries { registry.start() }
        let results = try await withThrowingTaskGroup(of: [String].self) { group in
            for registry in registries {
                group.addTask {
                    // The first operation of each migrates; all of them at the same moment.
                    _ = try await registry.vendors()
                    return try await registry.appliedMigrations()
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(
            results.allSatisfy {
                $0 == [
                    "v1-registry", "v2-revocation", "v3-supply-chain", "v4-one-device-per-key", "v5-fail-closed",
                    "v6-enrollment", "v7-fleet-operations",
                ]
            })
        #expect(try await TestPostgres.integer("SELECT count(*) FROM fleetkey_migrations", on: location) == 7)
        for registry in registries { await registry.shutdown() }
        await TestPostgres.dropDatabase(location)
    }

    @Test("a database migrated by a newer Fleetkey is refused, not used")
    func newerSchemaRefused() async throws {
        let location = try await TestPostgres.createDatabase()
        let registry = try PostgresRegistry(location: location, password: nil)
        registry.start()
        try await registry.migrate()
        try await TestPostgres.execute(
            "INSERT INTO fleetkey_migrations (name, position) VALUES ('v99-from-the-future', 99)", on: location)
        let fresh = try PostgresRegistry(location: location, password: nil)
        fresh.start()
        let error = await #expect(throws: FleetkeyError(.configuration, "")) { _ = try await fresh.vendors() }
        #expect(error?.reason.contains("v99-from-the-future") == true)
        #expect(error?.reason.contains("newer Fleetkey") == true)
        await registry.shutdown()
        await fresh.shutdown()
        await TestPostgres.dropDatabase(location)
    }

    @Test("the same tables, columns, indexes and append-only triggers as the SQLite registry")
    func sameLogicalSchema() async throws {
        let directory = try TemporaryDirectory()
        let sqlite = try SQLiteRegistry(path: directory.path("registry.sqlite"))
        _ = sqlite
        let queue = try DatabaseQueue(path: directory.path("registry.sqlite"))
        let sqliteTables = try await queue.read { db in
            try String.fetchAll(
                db,
                sql:
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    + "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'"
            )
        }
        let sqliteIndexes = try await queue.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        }
        let sqliteTriggers = try await queue.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
        var sqliteColumns: [String] = []
        for table in sqliteTables {
            sqliteColumns += try await queue.read { db in try db.columns(in: table).map { "\(table).\($0.name)" } }
        }

        let location = try await TestPostgres.createDatabase()
        let registry = try PostgresRegistry(location: location, password: nil)
        registry.start()
        try await registry.migrate()
        let postgresTables = try await TestPostgres.strings(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'fleetkey_migrations'",
            on: location)
        // Indexes made by CREATE INDEX, not those behind PRIMARY KEY and UNIQUE constraints (SQLite's autoindexes).
        let postgresIndexes = try await TestPostgres.strings(
            """
            SELECT index_class.relname::text FROM pg_index
            JOIN pg_class index_class ON index_class.oid = pg_index.indexrelid
            JOIN pg_class table_class ON table_class.oid = pg_index.indrelid
            JOIN pg_namespace ON pg_namespace.oid = table_class.relnamespace
            WHERE pg_namespace.nspname = 'public' AND table_class.relname <> 'fleetkey_migrations'
              AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE pg_constraint.conindid = pg_index.indexrelid)
            """, on: location)
        let postgresTriggers = try await TestPostgres.strings(
            "SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal", on: location)
        let postgresColumns = try await TestPostgres.strings(
            "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'public' "
                + "AND table_name <> 'fleetkey_migrations'", on: location)
        // Uniqueness that security rests on is a named unique index in both.
        let uniqueIndexes = try await TestPostgres.strings(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE 'CREATE UNIQUE%'",
            on: location)

        #expect(Set(postgresTables) == Set(sqliteTables))
        #expect(Set(postgresColumns) == Set(sqliteColumns))
        #expect(Set(postgresIndexes) == Set(sqliteIndexes))
        #expect(uniqueIndexes.contains("certificates_by_issuer_serial") && uniqueIndexes.contains("devices_by_serial"))
        // PostgreSQL has TRUNCATE as well, so one more trigger guards the event log there.
        #expect(Set(postgresTriggers) == Set(sqliteTriggers).union(["events_are_append_only_truncate"]))
        await registry.shutdown()
        await TestPostgres.dropDatabase(location)
    }

    @Test("an unreachable server is a clear storage error at once, naming the server and not the password")
    func unreachable() async throws {
        // A port nothing listens on: take a free one from the kernel and close it again.
        let port = try Self.unusedPort()
        let location = try PostgresLocation(url: "postgres://fleetkey@127.0.0.1:\(port)/registry?connect_timeout=3")
        let registry = try PostgresRegistry(location: location, password: Self.scramPassword)
        registry.start()
        let error = await #expect(throws: FleetkeyError(.storage, "")) { _ = try await registry.vendors() }
        // "At once" without a stopwatch (a loaded CI machine stalls every test alike): the refusal comes from the
        // first, direct attempt, not from giving up after the connect timeout while the pool retried.
        #expect(
            error?.reason.hasPrefix("cannot connect to the PostgreSQL registry") == true, "\(String(describing: error))"
        )
        #expect(error?.reason.contains("within 3 s") == false)
        #expect(error?.reason.contains("postgres://fleetkey@127.0.0.1:\(port)/registry") == true)
        #expect(error?.reason.contains("refused") == true, "\(String(describing: error))")
        #expect(error?.reason.contains(Self.scramPassword) == false)
        await registry.shutdown()
    }

    @Test("the password comes from the caller; a wrong or missing one is refused without being repeated")
    func passwords() async throws {
        let location = try await Self.scramDatabase()
        for password in [nil, "not-the-password"] {
            let registry = try PostgresRegistry(location: location, password: password)
            registry.start()
            let error = await #expect(throws: FleetkeyError(.storage, "")) { _ = try await registry.vendors() }
            #expect(error?.reason.contains(location.url) == true)
            #expect(
                error?.reason.contains(password == nil ? "asks for a password" : "password authentication failed")
                    == true,
                "\(String(describing: error))")
            #expect(error?.reason.contains("not-the-password") == false)
            await registry.shutdown()
        }
        let registry = try PostgresRegistry(location: location, password: Self.scramPassword)
        registry.start()
        _ = try await ThrowawayEcosystem.make(store: registry)
        #expect(try await registry.vendors().map(\.name.value) == ["Acme"])
        await registry.shutdown()
        await TestPostgres.dropDatabase(location)
    }

    @Test("a registry that was never started, or was shut down, says so instead of hanging")
    func lifecycle() async throws {
        let location = try await TestPostgres.createDatabase()
        let registry = try PostgresRegistry(location: location, password: nil)
        let idle = await #expect(throws: FleetkeyError(.storage, "")) { _ = try await registry.vendors() }
        #expect(idle?.reason.contains("not started") == true)
        registry.start()
        #expect(try await registry.vendors().isEmpty)
        await registry.shutdown()
        let stopped = await #expect(throws: FleetkeyError(.storage, "")) { _ = try await registry.vendors() }
        #expect(stopped?.reason.contains("shut down") == true)
        await TestPostgres.dropDatabase(location)
    }

    @Test("a database URL: canonical form, parameters, and every mistake named")
    func locations() throws {
        let plain = try PostgresLocation(url: "postgres://fleetkey@db.example.net/registry")
        #expect(plain.host == "db.example.net" && plain.port == 5432 && plain.user == "fleetkey")
        #expect(plain.database == "registry" && plain.tls == .prefer && plain.connectTimeout == .seconds(10))
        #expect(plain.url == "postgres://fleetkey@db.example.net:5432/registry")
        let full = try PostgresLocation(
            url:
                "postgresql://ops%40acme@[::1]:6432/fleet?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=4"
                + "&query_timeout=12"
        )
        #expect(full.user == "ops@acme" && full.host == "::1" && full.port == 6432 && full.tls == .verifyFull)
        #expect(full.rootCertificatePath == "/etc/ca.pem" && full.connectTimeout == .seconds(4))
        #expect(full.queryTimeout == .seconds(12) && plain.queryTimeout == .seconds(30))
        #expect(try PostgresLocation(url: full.url) == full)
        #expect(try PostgresLocation(url: "postgres://fleetkey@db").database == "fleetkey")

        let secret = "hunter2-secret"
        for (url, says) in [
            ("postgres://fleetkey:\(secret)@db/registry", "must not contain a password"),
            ("mysql://fleetkey@db/registry", "must be a PostgreSQL URL"),
            ("postgres://db/registry", "names no user"),
            ("postgres://fleetkey@db/a/b", "one database name"),
            ("postgres://fleetkey@db/registry?sslmode=allow", "sslmode 'allow' is not supported"),
            ("postgres://fleetkey@db/registry?connect_timeout=0", "connect_timeout"),
            ("postgres://fleetkey@db/registry?query_timeout=soon", "query_timeout 'soon' must be whole seconds"),
            ("postgres://fleetkey@db/registry?application_name=x", "'application_name' is not supported"),
            ("postgres://fleetkey@db/registry?sslrootcert=/ca.pem", "only used with sslmode=verify-full"),
        ] {
            let error = #expect(throws: FleetkeyError(.invalidArgument, "")) { try PostgresLocation(url: url) }
            #expect(error?.reason.contains(says) == true, "\(url): \(String(describing: error))")
            #expect(error?.reason.contains(secret) == false)
        }
    }

    static func unusedPort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(socket, raw, length) == 0, getsockname(socket, raw, &length) == 0 else {
                    throw FleetkeyError(.storage, "cannot probe for a free port")
                }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
