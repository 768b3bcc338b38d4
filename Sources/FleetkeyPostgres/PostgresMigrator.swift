import FleetkeyCore
import Logging
import PostgresNIO

/// Applies ``PostgresRegistrySchema/migrations`` in order and records each by name, once.
///
/// Several Fleetkey processes may open the same database at the same moment, so pending migrations are applied
/// under a transaction-scoped advisory lock: the first process migrates, the others wait, then find nothing
/// left to do. A database that already has migrations this build does not know was made by a newer Fleetkey;
/// it is refused rather than used with a schema this code does not understand.
enum PostgresMigrator {
    /// `pg_advisory_xact_lock` key for migrations: the bytes of "fkmigrat" read as a big-endian integer.
    static let lockKey: Int64 = 0x666b_6d69_6772_6174

    /// The names of the migrations applied to the database, in order; empty for a database Fleetkey never used.
    static func appliedMigrations(_ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let exists =
            try await connection.query(
                "SELECT to_regclass(\(PostgresRegistrySchema.migrationsTable)) IS NOT NULL", logger: logger
            ).collect().first?.decode(Bool.self) ?? false
        guard exists else { return [] }
        return try await connection.query(
            "SELECT name FROM fleetkey_migrations ORDER BY position", logger: logger
        ).collect().map { try $0.decode(String.self) }
    }

    /// Brings the database up to date and returns the names of all applied migrations.
    @discardableResult
    static func migrate(_ connection: PostgresConnection, location: PostgresLocation, logger: Logger) async throws
        -> [String]
    {
        let known = PostgresRegistrySchema.migrations.map(\.name)
        let applied = try await appliedMigrations(connection, logger: logger)
        try check(applied, known: known, location: location)
        guard applied.count < known.count else { return applied }

        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS fleetkey_migrations (
                    name text PRIMARY KEY,
                    position integer NOT NULL UNIQUE,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            // Read again under the lock: another process may have migrated while this one waited.
            let current = try await appliedMigrations(connection, logger: logger)
            try check(current, known: known, location: location)
            for (position, migration) in PostgresRegistrySchema.migrations.enumerated() where position >= current.count
            {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await migration.dataStep?(connection, logger)
                try await connection.query(
                    "INSERT INTO fleetkey_migrations (name, position) VALUES (\(migration.name), \(position))",
                    logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        return known
    }

    private static func check(_ applied: [String], known: [String], location: PostgresLocation) throws {
        guard applied.count <= known.count, Array(known.prefix(applied.count)) == applied else {
            throw FleetkeyError(
                .configuration,
                "the registry at \(location) has schema migrations this Fleetkey does not know "
                    + "(\(applied.filter { !known.contains($0) }.joined(separator: ", "))): it was created or "
                    + "upgraded by a newer Fleetkey; run that version")
        }
    }
}
