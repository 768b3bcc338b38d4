import ArgumentParser
import FleetkeyCore
import Foundation

struct CRLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crl", abstract: "Certificate revocation lists.", subcommands: [CRLPublish.self])
}

struct CRLPublish: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Sign fresh CRLs (one per partition) for the root and every vendor CA, and write them as DER.",
        discussion:
            "`fleetkey serve` does this by itself; this command is for offline publication, e.g. of the root's CRL.")

    @OptionGroup var location: DirectoryOption
    @Option(help: "Only this authority (root, vendor-<name>).") var issuer: String?
    @Option(help: "Write the CRLs into this directory (default: DIR/crl).") var out: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let directory = location.directory
        let store = try directory.openRevocationRegistry()
        let ecosystem = try directory.openEcosystem(passphrase: try directory.passphrase())
        var authorities = ["root"]
        for vendor in try await store.vendors() { authorities.append(vendor.authorityID) }
        if let issuer {
            guard authorities.contains(issuer) else {
                throw FleetkeyError(
                    .notFound, "no authority '\(issuer)'; authorities: \(authorities.joined(separator: ", "))")
            }
            authorities = [issuer]
        }
        let outURL = URL(fileURLWithPath: out ?? directory.url.appendingPathComponent("crl").path)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        let publisher = CRLPublisher(store: store, policy: ecosystem.policy, clock: Runtime.clock)
        var written: [[String: String]] = []
        for id in authorities {
            let authority = try await ecosystem.authority(id: id)
            for crl in try await publisher.publish(authority) {
                let name =
                    URL(string: ecosystem.policy.crlURL(issuer: id, scope: crl.scope))?.lastPathComponent
                    ?? crl.scope.fileStem(issuer: id) + ".crl"
                let file = outURL.appendingPathComponent(name)
                try Data(crl.der).write(to: file, options: .atomic)
                var row = ["issuer": id, "scope": crl.scope.description, "number": "\(crl.number)", "file": file.path]
                if case .partition(let index) = crl.scope { row["partition"] = "\(index)" }
                written.append(row)
                if !json { Output.line("\(id) \(crl.scope) CRL: number \(crl.number) -> \(file.path)") }
            }
        }
        if json { try Output.json(written) }
    }
}
