import Foundation
import Testing

/// The README's tour, run as written (issue 12, item 4): its first shell block, in a fresh shell whose PATH has the
/// built `fleetkey`, in an empty directory, with only the passphrase given (the tour asks for it on a terminal).
@Suite("The README's tour runs as written")
struct ReadmeTourTests {
    @Test("every command of the tour's first block exits 0 in a fresh shell")
    func tour() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## A short tour"))
        let rest = readme[section.upperBound...]
        let start = try #require(rest.range(of: "```sh\n"))
        let end = try #require(rest[start.upperBound...].range(of: "```"))
        let block = String(rest[start.upperBound..<end.lowerBound])
        #expect(block.contains("fleetkey init") && block.contains("fleetkey issue"), "\(block)")

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fleetkey-tour-\(UUID().uuidString)")
        let bin = root.appendingPathComponent("bin")
        let work = root.appendingPathComponent("work")
        for directory in [bin, work] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createSymbolicLink(
            atPath: bin.appendingPathComponent("fleetkey").path, withDestinationPath: Tools.fleetkey)
        let script = root.appendingPathComponent("tour.sh")
        try ("set -euo pipefail\n" + block).write(to: script, atomically: true, encoding: .utf8)
        // env -i: nothing of this process's environment but what a login shell would have.
        let result = try Tools.run(
            "env",
            [
                "-i", "HOME=\(root.path)", "PATH=\(bin.path):/usr/local/bin:/usr/bin:/bin",
                "FLEETKEY_PASSPHRASE=tour passphrase, typed on a terminal", "bash", "--noprofile", "--norc",
                script.path,
            ], directory: work)
        #expect(result.status == 0, "the tour failed: \(result.output)")
        #expect(result.stdout.contains("dev.pem: OK"), "openssl verify: \(result.output)")
    }
}
