import FleetkeyCore
import FleetkeyPostgres
import FleetkeySQLite
import Foundation
import Synchronization

/// Which registry an ecosystem uses, as `fleetkey.json` records it in `registry`: a file name inside the ecosystem
/// directory (SQLite, the embedded default) or a `postgres://USER@HOST:PORT/DATABASE` URL (scale-out).
///
/// The URL never holds a password. The password comes from FLEETKEY_DATABASE_PASSWORD, else PGPASSWORD (libpq's
/// variable), at the moment of connecting; it is not written to fleetkey.json, logs or error messages.
enum RegistrySelection {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    init(recorded registry: String, directory: URL) throws {
        if PostgresLocation.isPostgresURL(registry) {
            self = .postgres(try PostgresLocation(url: registry))
        } else {
            self = .sqlite(path: directory.appendingPathComponent(registry).path)
        }
    }

    /// The database password from the environment, if one is set.
    static var databasePassword: String? {
        let environment = ProcessInfo.processInfo.environment
        for name in ["FLEETKEY_DATABASE_PASSWORD", "PGPASSWORD"] {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }

    /// Opens the registry. A PostgreSQL registry is started here and shut down by ``OpenRegistries/shutdownAll()``
    /// when the command ends.
    func open() throws -> any RegistryStore {
        switch self {
        case .sqlite(let path):
            return try SQLiteRegistry(path: path)
        case .postgres(let location):
            let registry = try PostgresRegistry(location: location, password: Self.databasePassword)
            OpenRegistries.adopt(registry)
            return registry
        }
    }
}

/// The PostgreSQL registries a command opened: their connection pools run until the command ends, then
/// `FleetkeyCommand.run()` shuts them down, whether the command succeeded or failed.
enum OpenRegistries {
    private static let open = Mutex<[PostgresRegistry]>([])

    static func adopt(_ registry: PostgresRegistry) {
        registry.start()
        open.withLock { $0.append(registry) }
    }

    static func shutdownAll() async {
        let registries = open.withLock { registries in
            defer { registries.removeAll() }
            return registries
        }
        for registry in registries { await registry.shutdown() }
    }
}

extension RegistrySelection {
    /// Opens the PostgreSQL registry for a new ecosystem: applies the schema, and refuses a database that already
    /// holds an ecosystem's registry, before anything else is created.
    static func openEmptyPostgres(_ location: PostgresLocation) async throws -> PostgresRegistry {
        let registry = try PostgresRegistry(location: location, password: databasePassword)
        OpenRegistries.adopt(registry)
        try await registry.migrate()
        if try await (registry as any RegistryStore).authority(id: "root") != nil {
            throw FleetkeyError(
                .alreadyExists,
                "the database at \(location) already holds a Fleetkey registry (it has a root CA); refusing to "
                    + "overwrite it. Point --database at an empty database, or use the ecosystem directory that goes "
                    + "with this one")
        }
        return registry
    }
}
