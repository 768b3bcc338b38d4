import ArgumentParser
import FleetkeyCore
import Foundation

@main
struct Fleetkey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetkey",
        abstract: "PKI and key lifecycle for fleets of IoT devices.",
        discussion: """
            Every command finds the ecosystem through --dir, then FLEETKEY_DIR, then ./fleetkey-data.
            Commands that sign read the keystore passphrase from FLEETKEY_PASSPHRASE or ask for it.
            """,
        subcommands: [
            InitCommand.self, VendorCommand.self, CACommand.self, IssueCommand.self, CertCommand.self,
            DeviceCommand.self, RevokeCommand.self, CRLCommand.self, ServeCommand.self, DemoCommand.self,
            HSMCommand.self,
            FactoryCommand.self, ManifestCommand.self, OwnerCommand.self, LotCommand.self, DenyListCommand.self,
            SimulateCommand.self, GroupCommand.self, AuthzCommand.self, ExpiryCommand.self,
        ]
    )
}

/// Options every command that touches an ecosystem takes.
struct DirectoryOption: ParsableArguments {
    @Option(name: .long, help: "The ecosystem directory (default: $FLEETKEY_DIR, then ./fleetkey-data).")
    var dir: String?

    var directory: EcosystemDirectory { EcosystemDirectory.resolve(dir) }
}

/// A command whose failures are reported as `error [code]: reason` on stderr with exit status 1.
protocol FleetkeyCommand: AsyncParsableCommand {
    func execute() async throws

    /// The input a failure that is not a ``FleetkeyError`` is reported against (`request 'dev.csr'`), if any.
    var reportedInput: String? { get }
}

extension FleetkeyCommand {
    var reportedInput: String? { nil }

    func run() async throws {
        do {
            try await execute()
        } catch {
            // Reported first, so closing database connections can neither delay nor swallow the message; then the
            // pools close, on failure too.
            let reported = Result { try report(error) }
            await OpenRegistries.shutdownAll()
            try reported.get()
        }
        await OpenRegistries.shutdownAll()
    }

    private func report(_ failure: any Error) throws {
        // ArgumentParser's own outcomes keep their meaning (usage errors exit 64, a clean exit 0).
        if failure is ExitCode || failure is CleanExit || failure is ValidationError { throw failure }
        let error = ErrorReport.fleetkeyError(failure, input: reportedInput)
        FileHandle.standardError.write(Data("error [\(error.code)]: \(error.reason)\n".utf8))
        throw ExitCode(1)
    }
}

/// How a failure that is not a ``FleetkeyError`` reaches the user: as one, with a code and the input it concerns.
///
/// Fleetkey's own code throws ``FleetkeyError``s; what else arrives comes from a library decoding something the user
/// gave (an `ASN1Error` or `CertificateError` from DER, a `DecodingError` from JSON) and so is malformed input, or
/// from the file system (a `CocoaError`), which is a storage failure.
enum ErrorReport {
    static func fleetkeyError(_ failure: any Error, input: String?) -> FleetkeyError {
        if let error = failure as? FleetkeyError { return error }
        let subject = input ?? "the input"
        if let error = failure as? CocoaError {
            return FleetkeyError(.storage, "\(subject): \(error.localizedDescription)")
        }
        return FleetkeyError(.malformedInput, "\(subject) could not be decoded: \(failure)")
    }
}
