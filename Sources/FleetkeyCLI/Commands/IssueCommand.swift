import ArgumentParser
import FleetkeyCore
import Foundation
import SwiftASN1
import X509

struct IssueCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a device identity certificate from a PKCS#10 request (PEM or DER).",
        discussion: """
            Checks, in order: the request's signature (proof of possession), the key against the algorithm
            policy, the subject against the profile and the vendor's namespace. The certificate is built from
            the profile, linted against it, signed, recorded in the registry, and only then written out.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The vendor whose issuing CA signs.") var vendor: String
    @Option(help: "The PKCS#10 request file, PEM or DER.") var csr: String?
    @Option(help: "Issue for every request (*.csr, *.pem, *.der) in this directory, in name order (instead of --csr).")
    var csrDir: String?
    @Option(help: "With --csr-dir: write each certificate here, as <request name>.pem.") var outDir: String?
    @Flag(help: "With --csr-dir: report a refused request and go on with the next (a registry failure still stops).")
    var keepGoing = false
    @Option(help: "The certificate profile.") var profile = CertificateProfile.Name.deviceIdentity
    @Option(help: "Write the certificate (PEM) here instead of standard output.") var out: String?
    @Option(help: "hardwareModuleName serial (RFC 4108), when the request carries none.") var hwSerial: String?
    @Option(help: "hardwareModuleName hwType OID (default: the policy's hardwareModuleType).") var hwType: String?
    @Option(help: "The production lot the device belongs to.") var lot: String?
    @Flag(help: "Print a JSON summary (with the PEM) instead of the bare PEM.") var json = false

    var reportedInput: String? { csr.map { "request '\($0)'" } ?? csrDir.map { "--csr-dir '\($0)'" } }

    func execute() async throws {
        if let csrDir {
            return try await issueBatch(from: csrDir)
        }
        guard let csr else {
            throw FleetkeyError(
                .invalidArgument, "name the request: --csr FILE, or --csr-dir DIR --out-dir DIR for many")
        }
        if outDir != nil || keepGoing {
            throw FleetkeyError(.invalidArgument, "--out-dir and --keep-going go with --csr-dir, not with --csr")
        }
        let directory = location.directory
        let vendorName = try VendorName(vendor)
        if let lot { _ = try LotName(lot, field: "--lot") }
        guard let bytes = FileManager.default.contents(atPath: csr) else {
            throw FleetkeyError(.invalidArgument, "cannot read the request file '\(csr)'")
        }
        let policy = try directory.policy()
        var hardware: HardwareModuleName?
        if let hwSerial {
            let typeText = hwType ?? policy.hardwareModuleType
            guard let type = try? ASN1ObjectIdentifier(dotRepresentation: typeText) else {
                throw FleetkeyError(.invalidArgument, "--hw-type '\(typeText)' is not a dotted object identifier")
            }
            hardware = HardwareModuleName(hardwareType: type, serialNumber: Array(hwSerial.utf8))
        }
        // Decode and check the request before asking for the passphrase, so bad input fails fast.
        _ = try policy.decodeRequest(
            Array(bytes), profile: profile, at: Runtime.clock.now(), source: "request '\(csr)'")
        let ecosystem = try directory.openEcosystem(passphrase: try directory.passphrase())
        let authority = try await ecosystem.vendorAuthority(vendorName)
        let issued = try await ecosystem.issueDeviceIdentity(
            .init(csr: Array(bytes), profile: profile, hardwareModule: hardware, lot: lot), by: authority)
        let pem = try issued.certificate.pemString() + "\n"
        if let out {
            try Data(pem.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        }
        if json {
            var summary = try CertificateSummary(issued.certificate, registry: issued.record)
            summary.pem = pem
            try Output.json(summary)
        } else if out == nil {
            print(pem, terminator: "")
        } else {
            Output.progress("issued \(issued.record.serial) for device \(issued.device.id) -> \(out!)")
        }
    }
}
