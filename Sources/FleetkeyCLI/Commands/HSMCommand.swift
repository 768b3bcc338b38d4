import ArgumentParser
import FleetkeyCore
import FleetkeyPKCS11
import Foundation

struct HSMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hsm",
        abstract: "Inspect keys held in PKCS#11 tokens (HSMs, TPMs, smart cards, SoftHSM2).",
        subcommands: [HSMCheck.self])
}

struct HSMCheck: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Report a token key's custody attributes, so an operator can prove it cannot leave the token.",
        discussion: """
            Reads CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE and CKA_LOCAL of the
            private key the URI names, and asks the token for the length of CKA_VALUE (never the value). Exits 0 when
            the key was generated on the token and can never leave it, 1 otherwise.
            The PIN comes from FLEETKEY_PKCS11_PIN or the URI's pin-source=file:..., never from the command line.
            The module must be one Fleetkey may load: listed in the ecosystem's fleetkey.json (pkcs11Modules), when
            there is an ecosystem, or in FLEETKEY_PKCS11_MODULES (colon-separated paths).
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The key: pkcs11:token=LABEL;object=LABEL?module-path=/path/to/module.so (RFC 7512).") var key: String
    @Flag(help: "Print the report as JSON.") var json = false

    func execute() async throws {
        let directory = location.directory
        let configured = directory.exists ? try directory.configuration().pkcs11Modules : nil
        let allowed = PKCS11Modules.allowList(for: directory.exists ? directory : nil, configured: configured)
        let report = try PKCS11KeyCustody(allowedModules: allowed).keyReport(key)
        if json {
            try Output.json(JSONReport(report))
        } else {
            let attributes = report.attributes
            func yesNo(_ value: Bool?) -> String { value.map { $0 ? "yes" : "no" } ?? "not reported" }
            Output.line("Key        \(report.uri)")
            Output.line(
                "Token      '\(report.token.label)' (\(report.token.manufacturer) \(report.token.model), serial \(report.token.serial))"
            )
            Output.line("Module     \(report.modulePath)")
            Output.line(
                "Algorithm  \(report.algorithm), id \(report.id ?? "-"), key fingerprint \(report.publicKeyFingerprint)"
            )
            Output.line("  sensitive          \(yesNo(attributes.sensitive))")
            Output.line("  extractable        \(yesNo(attributes.extractable))")
            Output.line("  never-extractable  \(yesNo(attributes.neverExtractable))")
            Output.line("  always-sensitive   \(yesNo(attributes.alwaysSensitive))")
            Output.line(
                "  local              \(yesNo(attributes.local))\(attributes.local == true ? " (generated on the token)" : "")"
            )
            Output.line("  private object     \(yesNo(attributes.privateObject))")
            Output.line("  CKA_VALUE          \(report.valueReadable ? "READABLE" : "refused by the token")")
            if report.custodyProven {
                Output.line("Custody proven: the key was generated on the token and can never leave it.")
            }
        }
        guard report.custodyProven else {
            throw FleetkeyError(
                .custodyNotProven,
                "the key \(report.uri) is not proven to stay in its token: " + report.findings.joined(separator: "; "))
        }
    }

    /// The report with the verdict spelled out, for scripts.
    struct JSONReport: Encodable {
        var uri: String
        var modulePath: String
        var token: PKCS11KeyReport.Token
        var label: String?
        var id: String?
        var algorithm: String
        var publicKeyFingerprint: String
        var sensitive: Bool?
        var extractable: Bool?
        var neverExtractable: Bool?
        var alwaysSensitive: Bool?
        var local: Bool?
        var privateObject: Bool?
        var valueReadable: Bool
        var custodyProven: Bool
        var findings: [String]

        init(_ report: PKCS11KeyReport) {
            uri = report.uri
            modulePath = report.modulePath
            token = report.token
            label = report.label
            id = report.id
            algorithm = report.algorithm
            publicKeyFingerprint = report.publicKeyFingerprint
            sensitive = report.attributes.sensitive
            extractable = report.attributes.extractable
            neverExtractable = report.attributes.neverExtractable
            alwaysSensitive = report.attributes.alwaysSensitive
            local = report.attributes.local
            privateObject = report.attributes.privateObject
            valueReadable = report.valueReadable
            custodyProven = report.custodyProven
            findings = report.findings
        }
    }
}
