import Foundation
import Testing

/// Runs the independent verifiers (openssl, gnutls ocsptool, pkilint) that scripts/setup-verifiers installs.
/// A missing tool fails the test: these checks are part of the suite, not optional extras.
enum ExternalTool {
    struct Result {
        var status: Int32
        var output: String
    }

    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// pkilint's directory: FLEETKEY_VERIFIER_BIN (set by scripts/test), else scripts/setup-verifiers' venv.
    static var verifierBin: String {
        ProcessInfo.processInfo.environment["FLEETKEY_VERIFIER_BIN"]
            ?? packageRoot.appendingPathComponent(".build/verifiers/venv/bin").path
    }

    struct Missing: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) is not installed: run scripts/setup-verifiers (scripts/test does)" }
    }

    static func locate(_ name: String) throws -> String {
        if name.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: name) else { throw Missing(name: name) }
            return name
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw Missing(name: name)
    }

    /// Runs the tool with output (both streams) collected through a file, so no pipe can fill up.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], in directory: URL) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try locate(tool))
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let log = directory.appendingPathComponent("tool-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown)
        }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, output: output)
    }

    /// A fresh directory under the system's temporary directory, removed by `cleanup`.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fleetkey-ocsp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
