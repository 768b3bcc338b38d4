import FleetkeyCore
import FleetkeySQLite
import Foundation
import Testing

/// An ecosystem made by the real CLI in a temporary directory: root, and vendors Acme and Globex.
final class CLIEcosystem {
    static let passphrase = "integration test passphrase"
    let root: URL
    /// More environment for every `fleetkey` process, such as a SoftHSM2 configuration and PIN.
    let extraEnvironment: [String: String]
    var dir: String { root.appendingPathComponent("eco").path }
    var environment: [String: String] {
        extraEnvironment.merging(["FLEETKEY_PASSPHRASE": Self.passphrase, "FLEETKEY_DIR": dir]) { $1 }
    }

    /// `rootKey` is a PKCS#11 URI for the root key (`init --key`); the keystore holds it otherwise. `database` is a
    /// PostgreSQL URL for the registry (`init --database`); SQLite in the directory otherwise. `baseURL` is where the
    /// ecosystem's certificates say its `fleetkey serve` answers (OCSP, CRL, caIssuers).
    init(
        vendors: [String] = ["Acme", "Globex"], rootKey: String? = nil, database: String? = nil,
        baseURL: String? = nil, environment: [String: String] = [:]
    ) throws {
        extraEnvironment = environment
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fleetkey-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        expectSuccess(
            try fleetkey(
                ["init", "--name", "Example Ecosystem", "--kdf-log2n", "14"] + (rootKey.map { ["--key", $0] } ?? [])
                    + (database.map { ["--database", $0] } ?? []) + (baseURL.map { ["--base-url", $0] } ?? [])))
        for vendor in vendors {
            expectSuccess(try fleetkey(["vendor", "add", vendor]))
        }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func file(_ name: String) -> String { root.appendingPathComponent(name).path }
    var rootPEM: String { "\(dir)/certs/root.pem" }
    func vendorPEM(_ slug: String) -> String { "\(dir)/certs/vendor-\(slug).pem" }

    @discardableResult
    func fleetkey(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CommandResult {
        try Tools.run(Tools.fleetkey, arguments, environment: environment.merging(extra) { $1 })
    }

    /// A key and PKCS#10 request made by `openssl req` (P-256 unless `keySpec` says otherwise).
    func opensslRequest(
        name: String, subject: String, keySpec: [String] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        der: Bool = false
    ) throws -> String {
        let out = file("\(name).csr")
        expectSuccess(
            try Tools.run(
                "openssl",
                ["req", "-new"] + keySpec + ["-nodes", "-keyout", file("\(name).key"), "-subj", subject, "-out", out]
                    + (der ? ["-outform", "DER"] : [])))
        return out
    }

    /// Registry counts used to prove that a refused request recorded nothing.
    func counts() async throws -> [Int] {
        let registry = try SQLiteRegistry(path: "\(dir)/registry.sqlite")
        return [
            try await registry.certificateCount(issuer: nil), try await registry.events(subject: nil, limit: nil).count,
        ]
    }
}

func expectSuccess(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 0, "exit \(result.status): \(result.output)", sourceLocation: sourceLocation)
}
