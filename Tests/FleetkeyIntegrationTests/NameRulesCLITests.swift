import Foundation
import Testing

/// Lots, vendor names and owner names keep to their character sets at every command that takes one.
@Suite("Names of lots, vendors and owners at the command line")
struct NameRulesCLITests {
    /// A slash, a path step up, a control character, a right-to-left override, an empty name, one too long.
    static let badLots = ["LOT/1", "..", "LOT..1", "LOT\u{07}1", "LOT\u{202E}1", "", String(repeating: "L", count: 65)]
    static let badNames = [
        "Acme/Evil", "..", "Ac..me", "Acme\u{07}", "Acme\u{202E}", "", String(repeating: "A", count: 65),
    ]

    func expectRefused(
        _ eco: CLIEcosystem, _ arguments: [String], says fragment: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let before = try await eco.counts()
        let result = try eco.fleetkey(arguments)
        #expect(result.status == 1, "\(arguments): \(result.output)", sourceLocation: sourceLocation)
        #expect(
            result.stderr.contains("error [invalid-argument]") && result.stderr.contains(fragment),
            "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "\(arguments): \(result.stdout)", sourceLocation: sourceLocation)
        #expect(try await eco.counts() == before, "\(arguments) changed the registry", sourceLocation: sourceLocation)
    }

    @Test("issue, factory provision, revoke and manifest export refuse a bad --lot before doing anything")
    func lots() async throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let csr = try eco.opensslRequest(name: "dev", subject: "/O=Acme/serialNumber=SN-LOT")
        for lot in Self.badLots {
            try await expectRefused(eco, ["issue", "--vendor", "Acme", "--csr", csr, "--lot", lot], says: "lot")
            try await expectRefused(
                eco, ["factory", "provision", "--vendor", "Acme", "--lot", lot, "--count", "1"], says: "lot")
            // `revoke --lot A/B` means lot B of vendor A, so a slash is tried inside the lot part.
            for target in lot.contains("/") ? ["Acme/\(lot)"] : [lot, "Acme/\(lot)"] {
                try await expectRefused(eco, ["revoke", "--lot", target, "--reason", "keyCompromise"], says: "lot")
            }
            try await expectRefused(
                eco, ["manifest", "export", "--vendor", "Acme", "--lot", lot, "--out", eco.file("x.manifest")],
                says: "lot")
        }
        // The message shows a control or bidi character escaped, never raw.
        let shown = try eco.fleetkey(["issue", "--vendor", "Acme", "--csr", csr, "--lot", "LOT\u{202E}1"])
        #expect(shown.stderr.contains("\\u{202E}") && !shown.stderr.contains("\u{202E}"), "\(shown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: eco.file("x.manifest")))

        // A good lot still works, and is what the device records.
        expectSuccess(try eco.fleetkey(["issue", "--vendor", "Acme", "--csr", csr, "--lot", "LOT-1.a_b"]))
    }

    @Test("vendor add and owner add refuse a bad name")
    func vendorsAndOwners() async throws {
        let eco = try CLIEcosystem(vendors: [])
        for name in Self.badNames {
            try await expectRefused(eco, ["vendor", "add", name], says: "name")
            try await expectRefused(eco, ["owner", "add", name], says: "owner name")
        }
        let vendors = try eco.fleetkey(["vendor", "list", "--json"])
        let listed = try JSONSerialization.jsonObject(with: Data(vendors.stdout.utf8)) as? [Any]
        #expect(listed?.isEmpty == true, "\(vendors.output)")
        expectSuccess(try eco.fleetkey(["vendor", "add", "Acme Sensors 2.0"]))
        expectSuccess(try eco.fleetkey(["owner", "add", "Globex Ops"]))
    }
}
