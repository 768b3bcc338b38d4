import FleetkeySQLite
import FleetkeyTesting
import Testing

/// What is particular to SQLite. Everything a registry store must do is checked against SQLite and PostgreSQL alike
/// by the store conformance suite (Tests/FleetkeyStoreConformanceTests).
@Suite("SQLite registry")
struct SQLiteRegistryTests {
    @Test("the schema comes from named, ordered migrations")
    func migrations() throws {
        let directory = try TemporaryDirectory()
        let registry = try SQLiteRegistry(path: directory.path("registry.sqlite"))
        #expect(
            try registry.appliedMigrations() == [
                "v1-registry", "v2-revocation", "v3-supply-chain", "v4-one-device-per-key", "v5-fail-closed",
                "v6-enrollment", "v7-fleet-operations",
            ])
        // Reopening applies nothing twice.
        #expect(
            try SQLiteRegistry(path: directory.path("registry.sqlite")).appliedMigrations() == [
                "v1-registry", "v2-revocation", "v3-supply-chain", "v4-one-device-per-key", "v5-fail-closed",
                "v6-enrollment", "v7-fleet-operations",
            ])
    }
}
