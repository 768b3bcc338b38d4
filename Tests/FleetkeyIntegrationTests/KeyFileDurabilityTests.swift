import Foundation
import Testing

/// How `fleetkey` writes a key file, as the kernel sees it: traced with strace (Debian's) around a real `init`.
@Suite("Key files: created exclusively and durably")
struct KeyFileDurabilityTests {
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

    @Test("the root key file: O_EXCL temporary (0600), fsync, link to its name, directory fsync, in that order")
    func traced() throws {
        guard Tools.which("strace") != nil else { throw Tools.ToolMissing(name: "strace") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetkey-it-strace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("eco").path
        let trace = root.appendingPathComponent("trace.txt").path
        let result = try Tools.run(
            "strace",
            [
                "-f", "-qq", "-e", "trace=fsync,fdatasync,rename,renameat2,link,linkat,openat", "-o", trace,
                Tools.fleetkey, "init", "--name", "Traced", "--dir", dir, "--kdf-log2n", "14",
            ],
            environment: ["FLEETKEY_PASSPHRASE": "strace test passphrase"])
        #expect(result.status == 0, "\(result.output)")
        let calls = Self.joined(try String(contentsOfFile: trace, encoding: .utf8)).compactMap(Call.init)
        let keys = "\(dir)/keys"
        let final = "\(keys)/root.key.json"

        // 1. A unique temporary file in the keys directory, created exclusively, readable by the owner alone.
        let created = try #require(
            calls.firstIndex {
                $0.name == "openat" && $0.arguments.contains("\"\(keys)/.root.key.json.")
                    && $0.arguments.contains("O_CREAT") && $0.arguments.contains("O_EXCL")
            }, "no O_CREAT|O_EXCL temporary key file in the trace:\n\(calls.map(\.arguments).joined(separator: "\n"))")
        let opened = calls[created]
        #expect(opened.arguments.hasSuffix(", 0600"), "\(opened.arguments)")
        let temporary = try #require(opened.arguments.split(separator: "\"").dropFirst().first.map(String.init))
        let descriptor = opened.result
        // 2. Flushed through that descriptor.
        let flushed = try #require(
            calls[(created + 1)...].firstIndex {
                $0.pid == opened.pid && ($0.name == "fsync" || $0.name == "fdatasync") && $0.arguments == descriptor
            }, "the temporary key file was never fsynced")
        // 3. Given its name with link(2), which cannot replace an existing key; nothing is renamed onto it.
        let linked = try #require(
            calls[(flushed + 1)...].firstIndex {
                ($0.name == "link" || $0.name == "linkat") && $0.arguments.contains("\"\(temporary)\"")
                    && $0.arguments.contains("\"\(final)\"") && $0.result == "0"
            }, "the key file was not linked into place after its fsync")
        #expect(!calls.contains { $0.name.hasPrefix("rename") && $0.arguments.contains("\"\(final)\"") })
        // 4. The directory opened and fsynced after the link, so the new name survives a crash.
        let directoryOpened = try #require(
            calls[(linked + 1)...].firstIndex {
                $0.name == "openat" && $0.arguments.contains("\"\(keys)\"") && $0.arguments.contains("O_DIRECTORY")
            }, "the keys directory was not opened after the link")
        let directoryDescriptor = calls[directoryOpened].result
        #expect(
            calls[(directoryOpened + 1)...].contains {
                $0.pid == calls[directoryOpened].pid && $0.name == "fsync" && $0.arguments == directoryDescriptor
            }, "the keys directory was not fsynced after the link")

        // The result: one key file, mode 0600, and no temporary left.
        #expect(try FileManager.default.contentsOfDirectory(atPath: keys) == ["root.key.json"])
        let mode = try FileManager.default.attributesOfItem(atPath: final)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
