import ArgumentParser
import FleetkeyCore
import Foundation
import SwiftASN1
import X509

struct CertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Inspect certificates.", subcommands: [CertShow.self])
}

struct CertShow: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a certificate from a file (PEM or DER) or from the registry by serial (hex).")

    @OptionGroup var location: DirectoryOption
    @Argument(help: "A certificate file, or a serial number in hex.") var certificate: String
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        var summaries: [CertificateSummary] = []
        let directory = location.directory
        if FileManager.default.fileExists(atPath: certificate) {
            let bytes = FileManager.default.contents(atPath: certificate) ?? Data()
            let parsed = try PEMOrDER.certificate(Array(bytes), source: "'\(certificate)'")
            var record: CertificateRecord?
            if directory.exists {
                let registry = try directory.openRegistry()
                record = try await registry.certificates(serial: parsed.serialNumber.hexString)
                    .first { $0.der == (try? parsed.derBytes()) }
            }
            summaries.append(try CertificateSummary(parsed, registry: record))
        } else {
            guard let serial = Hex.decode(certificate) else {
                throw FleetkeyError(
                    .invalidArgument, "'\(certificate)' is neither a readable file nor a hexadecimal serial number")
            }
            let registry = try directory.openRegistry()
            let records = try await registry.certificates(serial: Hex.upper(serial.drop { $0 == 0 }))
            guard !records.isEmpty else {
                throw FleetkeyError(.notFound, "no certificate with serial \(Hex.upper(serial)) in the registry")
            }
            for record in records {
                summaries.append(try CertificateSummary(try Certificate(derEncoded: record.der), registry: record))
            }
        }
        if json {
            if summaries.count == 1 { try Output.json(summaries[0]) } else { try Output.json(summaries) }
        } else {
            Output.line(summaries.map(\.text).joined(separator: "\n\n"))
        }
    }
}
