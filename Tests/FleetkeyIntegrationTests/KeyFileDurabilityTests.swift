import Foundation
import Testing

/// How `fleetkey` writes a key file, as the kernel sees it: traced with strace (Debian's) around a real `init`.
@Suite("Key files: created exclusively and durably")
struct KeyFileDurabilityTests {
    @Test("the root key file: O_EXCL temporary (0600), fsync, link to its name, directory fsync, in that order")
    func traced() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetkey-it-strace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("eco").path
        let (result, calls) = try Strace.run(
            [Tools.fleetkey, "init", "--name", "Traced", "--dir", dir, "--kdf-log2n", "14"],
            calls: ["fsync", "fdatasync", "rename", "renameat2", "link", "linkat", "openat"],
            environment: ["FLEETKEY_PASSPHRASE": "strace test passphrase"], in: root)
        #expect(result.status == 0, "\(result.output)")
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
