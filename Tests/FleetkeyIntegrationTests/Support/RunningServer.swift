import Foundation
import Testing

/// A real `fleetkey serve` process on a free loopback port, stopped (or killed) by the test.
final class RunningServer {
    let process: Process
    let port: Int
    let log: URL
    let scheme: String
    var baseURL: String { "\(scheme)://127.0.0.1:\(port)" }

    init(
        _ eco: CLIEcosystem, port requested: Int? = nil, arguments extra: [String] = [], healthCheck: [String] = [],
        environment extraEnvironment: [String: String] = [:]
    ) throws {
        scheme = extra.contains("--tls-cert") ? "https" : "http"
        port = requested ?? LoopbackPort.reserve()
        log = eco.root.appendingPathComponent("serve-\(port)-\(UUID().uuidString.prefix(6)).log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw ServerDidNotStart(log: "cannot create the log file \(log.path)")
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: Tools.fleetkey)
        process.arguments = ["serve", "--listen", "127.0.0.1:\(port)"] + extra
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in eco.environment.merging(extraEnvironment, uniquingKeysWith: { $1 }) {
            environment[key] = value
        }
        process.environment = environment
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let health = try? Tools.run("curl", ["-sf"] + healthCheck + ["\(baseURL)/healthz"]), health.status == 0 {
                return
            }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        throw ServerDidNotStart(log: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func get(_ path: String, to file: String) throws {
        let result = try Tools.run("curl", ["-sf", "-o", file, "\(baseURL)\(path)"])
        #expect(result.status == 0, "GET \(path): \(result.output)")
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }

    struct ServerDidNotStart: Error, CustomStringConvertible {
        var log: String
        var description: String { "fleetkey serve did not start:\n\(log)" }
    }
}
