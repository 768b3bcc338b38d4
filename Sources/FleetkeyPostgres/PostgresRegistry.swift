import FleetkeyCore
import FleetkeyRegistrySQL
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The scale-out registry: PostgreSQL through postgres-nio, so that many stateless Fleetkey processes (CLIs and
/// servers, on one machine or many) share one database.
///
/// Connections come from a `PostgresClient` pool, which only works while its `run()` is running: a long-lived
/// server puts the registry in its `ServiceGroup` (it is a `Service`), a short-lived command calls ``start()``
/// and, before it exits, ``shutdown()``. The schema is brought up to date by ``migrate()``, which the first
/// operation also runs.
///
/// Every write is one transaction (`BEGIN` … `COMMIT` on one pooled connection). Concurrency control is the
/// database's: uniqueness by constraints, device changes by `UPDATE … WHERE state = <the state the writer read>`
/// (optimistic concurrency), so of two processes changing one device, one wins and the other gets `.conflict`.
/// Events are appended under a transaction-scoped advisory lock taken just before they are inserted, so their
/// sequence numbers are handed out in commit order: a reader that has seen event N never later finds a new event
/// below N (what an append-only log built on this table needs).
///
/// When the database cannot be reached, or dies during a transaction, operations fail with `.storage` and a
/// message naming the server (never the password); nothing is reported as recorded unless `COMMIT` succeeded.
package final class PostgresRegistry: Service {
    /// Where the registry is; printable (it holds no password).
    package let location: PostgresLocation
    let client: PostgresClient
    /// For the migration and diagnosis connections made outside the pool; holds the password, so never printed.
    private let directConfiguration: PostgresConnection.Configuration
    let logger: Logger
    private let lifecycle = Mutex(Lifecycle.idle)
    private let schemaIsCurrent = Atomic<Bool>(false)
    private let directConnectionIDs = Atomic<Int>(1_000_000)

    enum Lifecycle {
        case idle
        /// Running, in a task of its own (``start()``) or in the caller's (``run()``, where the task is `nil`).
        case running(Task<Void, Never>?)
        case stopped
    }

    /// `pg_advisory_xact_lock` key that orders event appends: the bytes of "fkevents" as a big-endian integer.
    static let eventLogLockKey: Int64 = 0x666b_6576_656e_7473

    /// Makes a registry for `location`; nothing connects until it is started and used.
    ///
    /// - Parameters:
    ///   - password: the database password, or `nil` for trust, peer or certificate authentication. Callers take it
    ///     from the environment (PGPASSWORD, FLEETKEY_DATABASE_PASSWORD), never from a file or a URL.
    ///   - maximumConnections: the pool's size; each process holds at most this many server connections.
    ///   - logger: where postgres-nio's background events go; silent by default.
    package init(
        location: PostgresLocation, password: String?, maximumConnections: Int = 20,
        logger: Logger = Logger(label: "fleetkey.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        self.location = location
        self.logger = logger
        try Self.checkRootCertificates(location)
        let tlsConfiguration = Self.tlsConfiguration(location)
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: password,
            database: location.database, tls: Self.clientTLS(location.tls, tlsConfiguration))
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.connectTimeout = location.connectTimeout
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)

        let connectionTLS: PostgresConnection.Configuration.TLS
        do {
            switch location.tls {
            case .disable: connectionTLS = .disable
            case .prefer: connectionTLS = .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            case .require, .verifyFull: connectionTLS = .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
        } catch {
            throw FleetkeyError(.configuration, "cannot set up TLS for \(location): \(error)")
        }
        var direct = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: password,
            database: location.database, tls: connectionTLS)
        direct.options.connectTimeout = .nanoseconds(Self.nanoseconds(location.connectTimeout))
        self.directConfiguration = direct
    }

    // MARK: Lifecycle

    /// Starts the connection pool in a task of its own, for short-lived users such as the CLI; pair with
    /// ``shutdown(waitingAtMost:)``.
    package func start() {
        lifecycle.withLock { state in
            guard case .idle = state else { return }
            let client = self.client
            state = .running(Task { await client.run() })
        }
    }

    /// Closes the pool's connections and stops it. Later operations fail with `.storage`.
    ///
    /// Waits for the pool to stop, but at most `limit`: while it cannot reach the server, postgres-nio's pool may
    /// keep retrying instead of stopping (vapor/postgres-nio#599), and a command must still be able to exit.
    package func shutdown(waitingAtMost limit: Duration = .seconds(2)) async {
        let task = lifecycle.withLock { state -> Task<Void, Never>? in
            defer { state = .stopped }
            if case .running(let task) = state { return task }
            return nil
        }
        guard let task else { return }
        task.cancel()
        let first = FirstOfTwo()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Task {
                await task.value
                if first.claim() { continuation.resume() }
            }
            Task {
                try? await Task.sleep(for: limit)
                if first.claim() { continuation.resume() }
            }
        }
    }

    /// Runs the pool in the calling task until it is cancelled or its `ServiceGroup` shuts down (`Service`).
    package func run() async throws {
        try lifecycle.withLock { state in
            guard case .idle = state else {
                throw FleetkeyError(.storage, "the PostgreSQL registry at \(location) was already started")
            }
            state = .running(nil)
        }
        await client.run()
        lifecycle.withLock { $0 = .stopped }
    }

    private func ensureRunning() throws {
        try lifecycle.withLock { state in
            switch state {
            case .running: return
            case .idle:
                throw FleetkeyError(
                    .storage,
                    "the PostgreSQL registry at \(location) is not started: call start() or run it as a Service")
            case .stopped:
                throw FleetkeyError(.storage, "the PostgreSQL registry at \(location) is shut down")
            }
        }
    }

    // MARK: Schema

    /// Applies pending migrations (``PostgresRegistrySchema``) and returns the names of all applied ones, in order.
    @discardableResult
    package func migrate() async throws -> [String] {
        let names = try await withDirectConnection("apply the registry's schema migrations") { connection, logger in
            try await PostgresMigrator.migrate(connection, location: self.location, logger: logger)
        }
        schemaIsCurrent.store(true, ordering: .releasing)
        return names
    }

    /// The names of the migrations applied to this database, in order.
    package func appliedMigrations() async throws -> [String] {
        try await withDirectConnection("read the applied migrations") { connection, logger in
            try await PostgresMigrator.appliedMigrations(connection, logger: logger)
        }
    }

    private func ensureSchema() async throws {
        try ensureRunning()
        if !schemaIsCurrent.load(ordering: .acquiring) {
            try await migrate()
        }
    }

    /// One connection made outside the pool, for migrations: its failures are reported at once and precisely
    /// (refused, wrong password, no such database) instead of after the pool's retries.
    private func withDirectConnection<T: Sendable>(
        _ purpose: String, _ body: (PostgresConnection, Logger) async throws -> T
    ) async throws -> T {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: directConfiguration,
                id: directConnectionIDs.wrappingAdd(1, ordering: .relaxed).newValue, logger: logger)
        } catch {
            throw FleetkeyError(
                .storage, "cannot connect to the PostgreSQL registry at \(location): \(PostgresFailure.describe(error))"
            )
        }
        do {
            let value = try await body(connection, logger)
            try? await connection.close()
            return value
        } catch let error as FleetkeyError {
            try? await connection.close()
            throw error
        } catch {
            try? await connection.close()
            throw FleetkeyError(
                .storage,
                "cannot \(purpose) in the PostgreSQL registry at \(location): \(PostgresFailure.describe(error))")
        }
    }

    // MARK: Transactions

    /// Runs `body` in one transaction on one pooled connection; it commits only if `body` returns.
    ///
    /// `FleetkeyError` and ``DuplicateSerialError`` from `body` pass through (after the rollback); anything else
    /// becomes `.storage` with a message saying whether anything can have been recorded.
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await ensureSchema()
        let logger = self.logger
        let location = self.location
        return try await withPooledConnection(writing: true) { connection in
            do {
                try await connection.query("BEGIN", logger: logger)
            } catch {
                throw Self.lostConnection(location, error, "while starting a transaction")
            }
            let value: T
            do {
                value = try await body(connection)
            } catch {
                if PostgresFailure.isUnavailability(error) {
                    // The connection is gone, and the server rolls back a transaction whose connection ended. No
                    // ROLLBACK is sent: postgres-nio leaves a query on a connection it has seen fail waiting forever,
                    // which hung batch issuance when PostgreSQL was killed under it.
                    try? await connection.close()
                } else {
                    do {
                        try await connection.query("ROLLBACK", logger: logger)
                    } catch {
                        // A connection whose transaction state is unknown must not go back to the pool.
                        try? await connection.close()
                    }
                }
                switch error {
                case _ where isRegistryOutcome(error): throw error
                case _ where PostgresFailure.isUnavailability(error):
                    throw Self.lostConnection(location, error, "during the transaction")
                default:
                    throw FleetkeyError(
                        .storage,
                        "registry write failed, nothing was recorded: PostgreSQL at \(location) said "
                            + PostgresFailure.describe(error))
                }
            }
            do {
                try await connection.query("COMMIT", logger: logger)
            } catch  where PostgresFailure.isUnavailability(error) {
                try? await connection.close()
                throw FleetkeyError(
                    .storage,
                    "the connection to the PostgreSQL registry at \(location) was lost while committing "
                        + "(\(PostgresFailure.describe(error))): the change may or may not have been recorded, and "
                        + "nothing was handed out; check the registry before retrying")
            } catch {
                throw FleetkeyError(
                    .storage,
                    "registry write failed at commit, nothing was recorded: PostgreSQL at \(location) said "
                        + PostgresFailure.describe(error))
            }
            return value
        }
    }

    /// Runs a read on one pooled connection (no explicit transaction: each statement sees a consistent snapshot).
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await ensureSchema()
        let location = self.location
        return try await withPooledConnection(writing: false) { connection in
            do {
                return try await body(connection)
            } catch let error as FleetkeyError {
                throw error
            } catch  where PostgresFailure.isUnavailability(error) {
                throw Self.lostConnection(location, error, "during a read")
            } catch {
                throw FleetkeyError(
                    .storage, "registry read failed: PostgreSQL at \(location) said \(PostgresFailure.describe(error))")
            }
        }
    }

    static func lostConnection(_ location: PostgresLocation, _ error: any Error, _ when: String) -> FleetkeyError {
        FleetkeyError(
            .storage,
            "lost the connection to the PostgreSQL registry at \(location) \(when) "
                + "(\(PostgresFailure.describe(error))): nothing was recorded and nothing was handed out; retry when "
                + "the database is back")
    }

    /// Leases a pooled connection for `body`, with two deadlines, each ending in a clear `.storage` error:
    /// - the location's connect timeout for the lease (postgres-nio's pool would otherwise keep the request queued
    ///   while it retries a server that is down);
    /// - its query timeout for `body` once leased, counted from the server's last answer to one of `body`'s statements
    ///   (``PooledOperation/answered()``): postgres-nio can leave a query waiting forever when the server dies as it is
    ///   sent, so the connection is then closed and the caller answered without waiting for `body`.
    private func withPooledConnection<T: Sendable>(
        writing: Bool, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let operation = PooledOperation<T>()
        let client = self.client
        let location = self.location
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard operation.attach(continuation) else { return }
                let work = Task {
                    let result: Result<T, any Error>
                    do {
                        result = .success(
                            try await PooledOperationProgress.$current.withValue({ operation.answered() }) {
                                try await client.withConnection { connection in
                                    guard operation.lease(connection) else { throw CancellationError() }
                                    return try await body(connection)
                                }
                            })
                    } catch {
                        result = .failure(error)
                    }
                    operation.finish(result)
                }
                let timer = Task {
                    try await Task.sleep(for: location.connectTimeout)
                    if operation.leaseDeadlinePassed() { return }
                    // The query deadline counts from the server's last answer, so a long unit of work (a revocation of
                    // 100,000 certificates) runs as long as each of its statements is answered in time.
                    var due = ContinuousClock.now.advanced(by: location.queryTimeout)
                    while true {
                        try await Task.sleep(until: due)
                        switch operation.queryDeadline(location.queryTimeout) {
                        case .over: return
                        case .watchUntil(let next): due = next
                        case .stuck(let connection):
                            try? await connection.close()
                            return
                        }
                    }
                }
                operation.attach(work: work, timer: timer)
            }
        } onCancel: {
            operation.cancel()
        }
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error) where operation.unanswered:
            _ = error
            throw FleetkeyError(
                .storage,
                "PostgreSQL at \(location) did not answer within \(location.queryTimeout.components.seconds) s "
                    + "(query_timeout), so the connection was closed: "
                    + (writing
                        ? "the change may or may not have been recorded, and nothing was handed out; check the "
                            + "registry before retrying"
                        : "nothing was recorded; retry when the database answers again"))
        case .failure(let error) where operation.wasLeased:
            throw error
        case .failure(let error):
            throw await unreachable(after: error, timedOut: operation.timedOut)
        }
    }

    /// Why no connection could be had: one direct attempt tells "refused" from "wrong password" from "pool busy".
    private func unreachable(after error: any Error, timedOut: Bool) async -> FleetkeyError {
        let waited = timedOut ? " within \(location.connectTimeout.components.seconds) s" : ""
        do {
            let connection = try await PostgresConnection.connect(
                configuration: directConfiguration,
                id: directConnectionIDs.wrappingAdd(1, ordering: .relaxed).newValue, logger: logger)
            try? await connection.close()
        } catch {
            return FleetkeyError(
                .storage,
                "cannot reach the PostgreSQL registry at \(location)\(waited): \(PostgresFailure.describe(error)); "
                    + "nothing was recorded")
        }
        return FleetkeyError(
            .storage,
            "no connection to the PostgreSQL registry at \(location) became free\(waited) "
                + "(\(timedOut ? "the pool's connections stayed busy" : PostgresFailure.describe(error))); "
                + "nothing was recorded")
    }

    // MARK: Configuration helpers

    /// Refuses, before any connection, a `sslrootcert` that is not a readable PEM file of certificates: verify-full
    /// checks the server against exactly these roots, and the TLS library would only report a bare file error at
    /// the first connection.
    private static func checkRootCertificates(_ location: PostgresLocation) throws {
        guard location.tls == .verifyFull, let path = location.rootCertificatePath else { return }
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw FleetkeyError(
                .configuration,
                "sslrootcert '\(path)' of \(location) cannot be read as PEM certificates (\(error)): give the file of "
                    + "CA certificates that issued the database server's certificate")
        }
        guard !roots.isEmpty else {
            throw FleetkeyError(
                .configuration,
                "sslrootcert '\(path)' of \(location) holds no certificate: give the file of CA certificates that "
                    + "issued the database server's certificate")
        }
    }

    private static func tlsConfiguration(_ location: PostgresLocation) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch location.tls {
        case .disable, .prefer, .require:
            // libpq's meaning of these modes: encryption without checking who answers.
            configuration.certificateVerification = .none
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            if let path = location.rootCertificatePath { configuration.trustRoots = .file(path) }
        }
        return configuration
    }

    private static func clientTLS(_ mode: PostgresLocation.TLSMode, _ configuration: TLSConfiguration)
        -> PostgresClient.Configuration.TLS
    {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(configuration)
        case .require, .verifyFull: .require(configuration)
        }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

/// Lets exactly one of two racing tasks resume a continuation.
private final class FirstOfTwo: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
