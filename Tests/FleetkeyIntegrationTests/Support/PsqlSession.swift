import Foundation

/// A `psql` session kept open by the test, to hold a transaction (and its locks) while the server runs.
final class PsqlSession {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let received = LockedLines()

    init(url: String) throws {
        process.executableURL = URL(fileURLWithPath: Tools.which("psql") ?? "/usr/bin/psql")
        process.arguments = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        let received = self.received
        output.fileHandleForReading.readabilityHandler = { handle in
            received.append(String(decoding: handle.availableData, as: UTF8.self))
        }
        try process.run()
    }

    /// Sends SQL and waits (at most 30 s) until the session prints `marker`, which the SQL should select.
    func run(_ sql: String, until marker: String) throws {
        input.fileHandleForWriting.write(Data((sql + "\nSELECT '\(marker)';\n").utf8))
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if received.text.contains(marker) { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        throw Failure(description: "psql did not answer \(marker): \(received.text)")
    }

    func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }
}

private final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    func append(_ text: String) { lock.withLock { value += text } }
    var text: String { lock.withLock { value } }
}
