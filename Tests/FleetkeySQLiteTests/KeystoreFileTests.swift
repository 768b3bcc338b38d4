import FleetkeyCore
import FleetkeyCustody
import FleetkeyTesting
import Foundation
import Testing
import X509

/// What a keystore file may make Fleetkey do before the passphrase is checked, and how key files come into being.
@Suite("Keystore files: scrypt cost bounds and exclusive creation")
struct KeystoreFileTests {
    static func keystore(_ directory: TemporaryDirectory, _ passphrase: String = "right passphrase") throws
        -> SoftwareKeystore
    {
        try keystore(at: directory.url, passphrase)
    }

    static func keystore(at url: URL, _ passphrase: String = "right passphrase") throws -> SoftwareKeystore {
        try SoftwareKeystore(
            directory: url.appendingPathComponent("keys"), passphrase: Passphrase(passphrase),
            cost: ScryptCost(log2N: 14))
    }

    /// One crafted cost: the kdf fields a key file is edited to hold, and the field the refusal must name.
    struct CostEdit: Sendable, CustomTestStringConvertible {
        var fields: [String: Int]
        var named: String
        var testDescription: String {
            fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
    }

    static let edits: [CostEdit] = [
        CostEdit(fields: ["log2N": 23], named: "kdf.log2N"),
        CostEdit(fields: ["log2N": 13], named: "kdf.log2N"),
        CostEdit(fields: ["log2N": 62], named: "kdf.log2N"),
        // 128 · 32 · 2^22 bytes: 16 GiB.
        CostEdit(fields: ["log2N": 22, "r": 32], named: "kdf.r"),
        // Within each bound alone, but 8 GiB together: twice the most Fleetkey writes.
        CostEdit(fields: ["log2N": 22, "r": 16], named: "kdf.r"),
        CostEdit(fields: ["r": 20], named: "kdf.r"),
        CostEdit(fields: ["r": 0], named: "kdf.r"),
        CostEdit(fields: ["p": 8], named: "kdf.p"),
        CostEdit(fields: ["p": 0], named: "kdf.p"),
    ]

    @Test(
        "a key file asking for a cost beyond the bounds is refused before scrypt runs, naming the file and field",
        arguments: edits)
    func costBounds(edit: CostEdit) async throws {
        let directory = try TemporaryDirectory()
        let created = try await Self.keystore(directory).generateKey(.p256, label: "vendor-acme")
        let file = directory.url.appendingPathComponent("keys/vendor-acme.key.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        var kdf = try #require(json["kdf"] as? [String: Any])
        for (field, value) in edit.fields { kdf[field] = value }
        json["kdf"] = kdf
        try JSONSerialization.data(withJSONObject: json).write(to: file)

        // A wrong passphrase as well: had scrypt run first, the error would be about the passphrase.
        let error = await #expect(throws: FleetkeyError.self) {
            try await Self.keystore(directory, "wrong passphrase").signingKey(created.reference)
        }
        #expect(error?.code == .keyAccessDenied)
        #expect(error?.reason.contains(file.path) == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("\(edit.named) = ") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("scrypt was not run") == true, "\(error?.reason ?? "")")
    }

    @Test("the bounds admit every cost `init --kdf-log2n` writes, and refuse a configured cost outside them")
    func configuredCosts() async throws {
        let directory = try TemporaryDirectory()
        for log2N in [14, 17] {
            let store = try SoftwareKeystore(
                directory: directory.url.appendingPathComponent("keys-\(log2N)"), passphrase: Passphrase("p"),
                cost: ScryptCost(log2N: log2N))
            let key = try await store.generateKey(.p256, label: "k")
            _ = try await SoftwareKeystore(directory: store.directory, passphrase: Passphrase("p")).signingKey(
                key.reference)
        }
        // 22, the most init accepts, is within the bounds (not run here: it takes 4 GiB).
        _ = try SoftwareKeystore(directory: directory.url, passphrase: Passphrase("p"), cost: ScryptCost(log2N: 22))
        let error = #expect(throws: FleetkeyError.self) {
            try SoftwareKeystore(directory: directory.url, passphrase: Passphrase("p"), cost: ScryptCost(log2N: 23))
        }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("kdf.log2N = 23") == true, "\(error?.reason ?? "")")
    }

    @Test("a second create of a label fails and leaves the first key intact, also when many race for it")
    func secondCreate() async throws {
        let directory = try TemporaryDirectory()
        let keys = directory.url.appendingPathComponent("keys")
        let first = try await Self.keystore(directory).generateKey(.p256, label: "vendor-acme")
        let file = keys.appendingPathComponent("vendor-acme.key.json")
        let written = try Data(contentsOf: file)

        await #expect(throws: FleetkeyError(.alreadyExists, "")) {
            try await Self.keystore(directory).generateKey(.p256, label: "vendor-acme")
        }
        #expect(try Data(contentsOf: file) == written)
        #expect(try await Self.keystore(directory).signingKey(first.reference).publicKey == first.publicKey)

        // Eight keystores (as if eight processes) create one label at once: one wins, the file holds its key.
        let root = directory.url
        let outcomes = await withTaskGroup(of: Result<CustodiedKey, any Error>.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do {
                        return .success(try await Self.keystore(at: root).generateKey(.p256, label: "raced"))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var outcomes: [Result<CustodiedKey, any Error>] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let winners = outcomes.compactMap { try? $0.get() }
        #expect(winners.count == 1, "\(winners.count) creations of one label succeeded")
        for case .failure(let error) in outcomes {
            #expect((error as? FleetkeyError)?.code == .alreadyExists, "\(error)")
        }
        let stored = try await Self.keystore(directory).signingKey(try #require(winners.first).reference)
        #expect(stored.publicKey == winners.first?.publicKey)
        // No temporary file is left behind, by the winner or by the losers.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: keys.path).sorted() == [
                "raced.key.json", "vendor-acme.key.json",
            ])
    }
}
