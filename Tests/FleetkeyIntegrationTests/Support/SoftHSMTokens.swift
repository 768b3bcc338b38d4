import Foundation
import Testing

/// A SoftHSM2 token directory of its own (a temporary softhsm2.conf), for `fleetkey` processes and python-pkcs11.
///
/// Each test makes one, so tests can run in parallel and a test that deletes a token disturbs no other.
final class SoftHSMTokens {
    static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"
    static let pin = "it-user-pin-6604"
    static let soPIN = "it-so-pin-1191"

    let root: URL
    var configuration: String { root.appendingPathComponent("softhsm2.conf").path }
    /// What a `fleetkey` process needs to reach the tokens: the configuration and the PIN, from the environment.
    var environment: [String: String] { ["SOFTHSM2_CONF": configuration, "FLEETKEY_PKCS11_PIN": Self.pin] }

    init(labels: [String]) throws {
        guard FileManager.default.fileExists(atPath: Self.modulePath) else {
            throw Tools.ToolMissing(name: "softhsm2 (\(Self.modulePath))")
        }
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fleetkey-it-hsm-\(UUID().uuidString)")
        let tokens = root.appendingPathComponent("tokens")
        try FileManager.default.createDirectory(at: tokens, withIntermediateDirectories: true)
        try Data("directories.tokendir = \(tokens.path)\nobjectstore.backend = file\nlog.level = ERROR\n".utf8)
            .write(to: URL(fileURLWithPath: configuration))
        for label in labels {
            let result = try Tools.run(
                "softhsm2-util",
                ["--init-token", "--free", "--label", label, "--so-pin", Self.soPIN, "--pin", Self.pin],
                environment: ["SOFTHSM2_CONF": configuration])
            #expect(result.status == 0, "softhsm2-util --init-token \(label): \(result.output)")
        }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// A key URI on one of the tokens.
    func uri(token: String, object: String) -> String {
        "pkcs11:token=\(token);object=\(object)?module-path=\(Self.modulePath)"
    }

    func deleteToken(_ label: String) throws {
        let result = try Tools.run(
            "softhsm2-util", ["--delete-token", "--token", label], environment: ["SOFTHSM2_CONF": configuration])
        #expect(result.status == 0, "\(result.output)")
    }

    /// Runs a python-pkcs11 script against the tokens (PIN and module passed in the environment, not argv).
    func python(_ script: String) throws -> CommandResult {
        try Tools.run(
            "\(Tools.verifierBin)/python", ["-c", script],
            environment: ["SOFTHSM2_CONF": configuration, "P11_PIN": Self.pin, "P11_MODULE": Self.modulePath])
    }
}
