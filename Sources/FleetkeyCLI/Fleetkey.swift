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
}

extension FleetkeyCommand {
    func run() async throws {
        do {
            try await execute()
        } catch {
            // Reported first, so closing database connections can neither delay nor swallow the message; then the
            // pools close, on failure too.
            let reported = Result { try Self.report(error) }
            await OpenRegistries.shutdownAll()
            try reported.get()
        }
        await OpenRegistries.shutdownAll()
    }

    private static func report(_ failure: any Error) throws {
        do {
            throw failure
        } catch let error as FleetkeyError {
            FileHandle.standardError.write(Data("error [\(error.code)]: \(error.reason)\n".utf8))
            throw ExitCode(1)
        } catch let error as ExitCode {
            throw error
        } catch let error as any LocalizedError {
            FileHandle.standardError.write(Data("error: \(error.errorDescription ?? "\(error)")\n".utf8))
            throw ExitCode(1)
        }
    }
}
