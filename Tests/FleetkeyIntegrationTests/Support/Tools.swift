import Foundation
import Testing

/// The result of running a command: exit status and both output streams.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

/// Runs real programs: the built `fleetkey`, openssl, certtool and pkilint. No mocks stand in for them.
enum Tools {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `fleetkey` binary: FLEETKEY_BIN (set by scripts/test), else the debug build.
    static var fleetkey: String {
        ProcessInfo.processInfo.environment["FLEETKEY_BIN"]
            ?? packageRoot.appendingPathComponent(".build/debug/fleetkey").path
    }

    /// Where pkilint's commands are: FLEETKEY_VERIFIER_BIN (set by scripts/test), else scripts/setup-verifiers' venv.
    static var verifierBin: String {
        ProcessInfo.processInfo.environment["FLEETKEY_VERIFIER_BIN"]
            ?? packageRoot.appendingPathComponent(".build/verifiers/venv/bin").path
    }

    static func which(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `executable` (a path, or a name looked up in PATH) and waits for it.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil,
        directory: URL? = nil
    ) throws -> CommandResult {
        let path = executable.contains("/") ? executable : (which(executable) ?? executable)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ToolMissing(name: executable)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "FLEETKEY_PASSPHRASE")
        merged.removeValue(forKey: "FLEETKEY_DIR")
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child cannot block on a full pipe.
        let errData = LockedData()
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.isSet { usleep(1000) }
        return CommandResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData.value, as: UTF8.self))
    }

    struct ToolMissing: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) is not installed: run scripts/test, which installs the verifiers" }
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ value: Data) { lock.withLock { data = value } }
    var isSet: Bool { lock.withLock { data != nil } }
    var value: Data { lock.withLock { data ?? Data() } }
}
