import FleetkeyTesting
import Foundation
import Synchronization

/// A real `fleetkey` process (the binary scripts/test builds), started without blocking a test's thread: its
/// output goes to files, and its exit is awaited.
final class FleetkeyProcess {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// FLEETKEY_BIN (set by scripts/test), else the debug build.
    static var binary: String {
        ProcessInfo.processInfo.environment["FLEETKEY_BIN"]
            ?? packageRoot.appendingPathComponent(".build/debug/fleetkey").path
    }

    struct Outcome: Sendable {
        var status: Int32
        /// Whether it exited (`status` is its exit code) or was killed by a signal (`status` is the signal).
        var killedBySignal: Bool
        var stdout: String
        var stderr: String
        var output: String { stdout + stderr }
    }

    struct BinaryMissing: Error, CustomStringConvertible {
        var path: String
        var description: String {
            "\(path) is missing: run scripts/test, which builds fleetkey and installs PostgreSQL"
        }
    }

    private let process: Process
    var processIdentifier: Int32 { process.processIdentifier }
    private let stdoutURL: URL
    private let stderrURL: URL
    private let exit = ExitState()

    /// Starts `fleetkey ARGUMENTS` (or another program, such as scripts/postgres) with the given environment on top
    /// of this process's (minus any ecosystem, passphrase or database password of its own); `logs` is where stdout
    /// and stderr are kept.
    init(_ arguments: [String], environment: [String: String], logs: URL, executable: String = binary) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else { throw BinaryMissing(path: executable) }
        let name = UUID().uuidString
        stdoutURL = logs.appendingPathComponent("\(name).out")
        stderrURL = logs.appendingPathComponent("\(name).err")
        guard FileManager.default.createFile(atPath: stdoutURL.path, contents: nil),
            FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: logs.path]) }
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for name in ["FLEETKEY_PASSPHRASE", "FLEETKEY_DIR", "FLEETKEY_DATABASE_PASSWORD", "PGPASSWORD"] {
            merged.removeValue(forKey: name)
        }
        merged.merge(environment) { $1 }
        process.environment = merged
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        let exit = self.exit
        process.terminationHandler = { finished in
            let status = finished.terminationStatus
            let waiter = exit.state.withLock { state -> CheckedContinuation<Int32, Never>? in
                state.status = status
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: status)
        }
        try process.run()
    }

    /// Waits for the process to end (without blocking a thread) and returns its status and output.
    func outcome() async -> Outcome {
        let status = await withCheckedContinuation { continuation in
            let done = exit.state.withLock { state -> Int32? in
                if let status = state.status { return status }
                state.waiter = continuation
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
        return Outcome(
            status: status, killedBySignal: process.terminationReason == .uncaughtSignal,
            stdout: (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")
    }

    /// Like ``outcome()``, but a process still running after `limit` is killed (SIGKILL) so a hang fails the test
    /// instead of stalling the run; its outcome then says `killedBySignal`.
    func outcome(within limit: Duration) async -> Outcome {
        let pid = process.processIdentifier
        let exit = self.exit
        let watchdog = Task {
            try await Task.sleep(for: limit)
            if exit.state.withLock({ $0.status == nil }) { kill(pid, SIGKILL) }
        }
        let outcome = await outcome()
        watchdog.cancel()
        return outcome
    }

    /// Runs `fleetkey ARGUMENTS` to the end.
    static func run(
        _ arguments: [String], environment: [String: String], logs: URL, executable: String = binary
    ) async throws -> Outcome {
        try await FleetkeyProcess(arguments, environment: environment, logs: logs, executable: executable)
            .outcome(within: .seconds(300))
    }
}

/// How a process ended, and who waits for it: set by the termination handler, read by ``FleetkeyProcess/outcome()``.
private final class ExitState: Sendable {
    let state = Mutex<(status: Int32?, waiter: CheckedContinuation<Int32, Never>?)>((nil, nil))
}

/// An ecosystem made by the real CLI in a temporary directory, with its registry in a PostgreSQL database (or in
/// SQLite, when no database is given).
final class CLIEcosystem {
    static let passphrase = "conformance test passphrase"
    let root: TemporaryDirectory
    let database: String?
    var dir: String { root.path("eco") }
    var environment: [String: String] { ["FLEETKEY_PASSPHRASE": Self.passphrase, "FLEETKEY_DIR": dir] }

    /// `fleetkey init [--database URL]` and `fleetkey vendor add` for each vendor.
    init(database url: String?, vendors: [String] = ["Acme"], extraEnvironment: [String: String] = [:]) async throws {
        root = try TemporaryDirectory("fleetkey-pg-cli")
        database = url
        let created = try await fleetkey(
            ["init", "--name", "Conformance Ecosystem", "--kdf-log2n", "14"] + (url.map { ["--database", $0] } ?? []),
            extraEnvironment)
        guard created.status == 0 else { throw SetupFailed(step: "init", outcome: created) }
        for vendor in vendors {
            let added = try await fleetkey(["vendor", "add", vendor], extraEnvironment)
            guard added.status == 0 else { throw SetupFailed(step: "vendor add \(vendor)", outcome: added) }
        }
    }

    struct SetupFailed: Error, CustomStringConvertible {
        var step: String
        var outcome: FleetkeyProcess.Outcome
        var description: String { "fleetkey \(step) failed (exit \(outcome.status)): \(outcome.output)" }
    }

    func fleetkey(_ arguments: [String], _ extra: [String: String] = [:]) async throws -> FleetkeyProcess.Outcome {
        try await FleetkeyProcess.run(arguments, environment: environment.merging(extra) { $1 }, logs: root.url)
    }

    func start(_ arguments: [String], _ extra: [String: String] = [:]) throws -> FleetkeyProcess {
        try FleetkeyProcess(arguments, environment: environment.merging(extra) { $1 }, logs: root.url)
    }

    /// Writes `count` DER requests for devices PREFIX-00000... of `vendor` into a new directory, keys made in-process.
    func requests(_ name: String, vendor: String = "Acme", prefix: String, count: Int, from first: Int = 0) async throws
        -> URL
    {
        let directory = root.url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lanes = 4
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    for index in stride(from: first + lane, to: first + count, by: lanes) {
                        let serial = "\(prefix)-" + String(format: "%05d", index)
                        let (_, der) = try ThrowawayEcosystem.deviceRequest(vendor: vendor, serial: serial)
                        try Data(der).write(to: directory.appendingPathComponent("\(serial).csr"))
                    }
                }
            }
            try await group.waitForAll()
        }
        return directory
    }
}
