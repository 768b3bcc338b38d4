import Foundation
import Testing

/// A passphrase that is being chosen has at least 12 characters, whether typed or taken from FLEETKEY_PASSPHRASE.
@Suite("Chosen passphrases meet the minimum length")
struct PassphraseMinimumTests {
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fleetkey-it-pass-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("init refuses a FLEETKEY_PASSPHRASE of 11 characters and creates nothing; 12 are enough")
    func initMinimum() throws {
        let parent = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: parent) }
        let short = parent.appendingPathComponent("short").path
        let refused = try Tools.run(
            Tools.fleetkey, ["init", "--name", "Short", "--dir", short, "--kdf-log2n", "14"],
            environment: ["FLEETKEY_PASSPHRASE": "eleven-char"])
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.stderr.contains("error [invalid-argument]"), "\(refused.stderr)")
        #expect(refused.stderr.contains("FLEETKEY_PASSPHRASE must have at least 12 characters"), "\(refused.stderr)")
        #expect(!refused.output.contains("eleven-char"))
        #expect(!FileManager.default.fileExists(atPath: short), "init created \(short) although it refused")

        let enough = parent.appendingPathComponent("enough").path
        let created = try Tools.run(
            Tools.fleetkey, ["init", "--name", "Enough", "--dir", enough, "--kdf-log2n", "14"],
            environment: ["FLEETKEY_PASSPHRASE": "twelve-chars"])
        expectSuccess(created)
        // Opening the keys again is not choosing: the same passphrase admits a vendor.
        expectSuccess(
            try Tools.run(
                Tools.fleetkey, ["vendor", "add", "Acme", "--dir", enough],
                environment: ["FLEETKEY_PASSPHRASE": "twelve-chars"]))
    }

    @Test("the demo holds FLEETKEY_PASSPHRASE to the minimum too, and creates nothing when it is short")
    func demoMinimum() throws {
        let parent = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: parent) }
        let dir = parent.appendingPathComponent("demo").path
        let refused = try Tools.run(
            Tools.fleetkey, ["demo", "--dir", dir, "--devices", "1"], environment: ["FLEETKEY_PASSPHRASE": "demo"])
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.stderr.contains("at least 12 characters"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir))
    }
}
