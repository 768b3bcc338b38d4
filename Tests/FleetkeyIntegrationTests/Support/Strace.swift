import Foundation

/// A system-call trace of a real `fleetkey` run, taken with Debian's strace (`strace -f -o FILE`).
enum Strace {
    /// One traced system call: the process, the call's name, its argument text and its result.
    struct Call {
        var pid: String
        var name: String
        var arguments: String
        var result: String

        /// Parses a line of `strace -f -o FILE` output: `PID  name(args)   = result` (strace pads before the `=`).
        init?(_ line: Substring) {
            // strace pads the pid column when pids differ in width: split off the pid, then drop the padding.
            let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard fields.count == 2 else { return nil }
            let parts = [fields[0], fields[1].drop { $0 == " " }]
            guard let open = parts[1].firstIndex(of: "("), let equals = parts[1].range(of: " = ", options: .backwards)
            else { return nil }
            let call = parts[1][..<equals.lowerBound].trimmingCharacters(in: .whitespaces)
            guard call.hasSuffix(")") else { return nil }
            pid = String(parts[0])
            name = String(parts[1][..<open])
            arguments = String(call[call.index(after: call.firstIndex(of: "(")!)..<call.index(before: call.endIndex)])
            result = parts[1][equals.upperBound...].split(separator: " ").first.map(String.init) ?? ""
        }
    }

    /// The trace's lines, with each call that another thread interrupted (`<unfinished ...>`, then
    /// `<... name resumed>`) put back together.
    static func joined(_ trace: String) -> [Substring] {
        var pending: [Substring: Substring] = [:]
        var lines: [Substring] = []
        for line in trace.split(separator: "\n") {
            let pid = line.prefix { $0 != " " }
            if line.hasSuffix("<unfinished ...>") {
                var start = line.dropLast("<unfinished ...>".count)
                while start.last == " " { start = start.dropLast() }
                pending[pid] = start
            } else if let resumed = line.range(of: " resumed>"), let start = pending.removeValue(forKey: pid) {
                lines.append(start + line[resumed.upperBound...])
            } else {
                lines.append(line)
            }
        }
        return lines
    }

    /// Runs `arguments` under strace, tracing `calls`, and returns the trace's calls in completion order.
    static func run(
        _ arguments: [String], calls: [String], showingPaths: Bool = false, environment: [String: String],
        in directory: URL
    ) throws -> (result: CommandResult, calls: [Call]) {
        guard Tools.which("strace") != nil else { throw Tools.ToolMissing(name: "strace") }
        let trace = directory.appendingPathComponent("trace-\(UUID().uuidString).txt").path
        let result = try Tools.run(
            "strace",
            ["-f", "-qq"] + (showingPaths ? ["-y"] : []) + ["-e", "trace=" + calls.joined(separator: ","), "-o", trace]
                + arguments,
            environment: environment)
        return (result, joined(try String(contentsOfFile: trace, encoding: .utf8)).compactMap(Call.init))
    }
}
