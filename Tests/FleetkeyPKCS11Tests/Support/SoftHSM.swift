import Foundation
import Testing

@testable import FleetkeyPKCS11

/// The SoftHSM2 token directory this test process uses: a temporary directory with its own softhsm2.conf.
///
/// SoftHSM2 reads SOFTHSM2_CONF and scans its token directory once, when the module is initialised, and Fleetkey
/// initialises a module once per process. So every token the in-process tests use is made here, with
/// `softhsm2-util --init-token`, before the first test loads the module; tests that need a token of their own take
/// one of these names. The tests that run `fleetkey` as a separate process make their own token directories.
enum SoftHSM {
    static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"
    static let pin = "fixture-user-pin-5821"
    static let soPIN = "fixture-so-pin-7730"
    /// One token per concern, so a test that deletes or locks out a token cannot disturb the others.
    static let tokenLabels = ["custody", "elements", "failures", "vanishing", "ecosystem", "imports"]

    struct Fixture: Sendable {
        var directory: URL
        var configuration: URL
    }

    /// Made once per process; a missing SoftHSM2 is a failure (scripts/test installs it), never a skip.
    static let fixture: Result<Fixture, SetupError> = {
        guard FileManager.default.fileExists(atPath: modulePath), let util = Run.which("softhsm2-util") else {
            return .failure(
                SetupError(
                    description:
                        "SoftHSM2 is not installed (\(modulePath), softhsm2-util): run scripts/test, which installs it")
            )
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetkey-softhsm-\(UUID().uuidString)")
        let tokens = directory.appendingPathComponent("tokens")
        let configuration = directory.appendingPathComponent("softhsm2.conf")
        do {
            try FileManager.default.createDirectory(at: tokens, withIntermediateDirectories: true)
            try Data("directories.tokendir = \(tokens.path)\nobjectstore.backend = file\nlog.level = ERROR\n".utf8)
                .write(to: configuration)
        } catch {
            return .failure(SetupError(description: "cannot make the SoftHSM2 token directory: \(error)"))
        }
        for label in tokenLabels {
            let result = Run.run(
                util, ["--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", pin],
                environment: ["SOFTHSM2_CONF": configuration.path])
            guard result.status == 0 else {
                return .failure(SetupError(description: "softhsm2-util --init-token \(label) failed: \(result.output)"))
            }
        }
        setenv("SOFTHSM2_CONF", configuration.path, 1)
        // The tokens live as long as the process (the loaded module refers to them); remove them when it exits.
        atexit {
            if case .success(let fixture) = SoftHSM.fixture {
                try? FileManager.default.removeItem(at: fixture.directory)
            }
        }
        return .success(Fixture(directory: directory, configuration: configuration))
    }()

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// The fixture, or a test failure saying why it is missing.
    @discardableResult
    static func ready() throws -> Fixture {
        try fixture.get()
    }

    /// A URI for a fixture token (and optionally an object on it).
    static func uri(token: String, object: String? = nil) throws -> PKCS11URI {
        try ready()
        return PKCS11URI(token: token, object: object, modulePath: modulePath)
    }

    /// The modules the tests' custodies may load: SoftHSM2's.
    static let allowedModules = PKCS11ModuleAllowList([modulePath])

    /// The environment a custody reads its PIN from.
    static func environment(pin: String = pin) -> [String: String] {
        [PKCS11PIN.environmentVariable: pin]
    }

    /// Deletes a fixture token from outside this process, as `softhsm2-util --delete-token` does for an operator.
    static func deleteToken(_ label: String) throws {
        let fixture = try ready()
        let result = Run.run(
            Run.which("softhsm2-util") ?? "softhsm2-util", ["--delete-token", "--token", label],
            environment: ["SOFTHSM2_CONF": fixture.configuration.path])
        guard result.status == 0 else {
            throw SetupError(description: "deleting token \(label) failed: \(result.output)")
        }
    }
}
