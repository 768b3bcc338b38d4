import Foundation
import Testing

/// The newcomer's path (issue 12, item 4): `scripts/demo`, then every command it prints, exactly as printed, from a
/// shell that has nothing set.
@Suite("The demo and the commands it prints")
struct DemoTests {
    @Test("scripts/demo into a temporary directory, then every fleetkey and openssl line it printed exits 0")
    func demoThenEveryPrintedCommand() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fleetkey-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        // Tools.run passes on neither FLEETKEY_PASSPHRASE nor FLEETKEY_DIR: the printed commands must find what they
        // need by themselves.
        let demo = try Tools.run(
            repository.appendingPathComponent("scripts/demo").path,
            ["--dir", root.appendingPathComponent("demo").path],
            environment: ["FLEETKEY_BIN": Tools.fleetkey])
        #expect(demo.status == 0, "\(demo.output)")

        let printed = demo.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("fleetkey ") || $0.hasPrefix("openssl ") }
        #expect(printed.filter { $0.hasPrefix("fleetkey ") }.count >= 6, "\(demo.stdout)")
        for line in printed {
            var words = line.split(separator: " ").map(String.init)
            let tool = words.removeFirst()
            let result = try Tools.run(tool == "fleetkey" ? Tools.fleetkey : tool, words)
            #expect(result.status == 0, "`\(line)` exited \(result.status): \(result.output)")
        }
        // The demo passphrase is kept only where the demo said, readable by its owner alone.
        let file = root.appendingPathComponent("demo/DEMO-ONLY-passphrase").path
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(demo.stdout.contains("for this demo only"))
    }
}
