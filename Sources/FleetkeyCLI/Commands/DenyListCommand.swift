import ArgumentParser
import FleetkeyCore
import Foundation
import SwiftASN1
import X509

struct DenyListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denylist",
        abstract: "Signed deny lists of revoked device identities, for relying parties too small for CRLs or OCSP.",
        subcommands: [DenyListPublish.self, DenyListShow.self])
}

struct DenyListPublish: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Sign a vendor CA's deny list (every revoked device), or a delta since list N, and write it as DER.",
        discussion: """
            A list's number is the registry's newest event sequence when it was made; --since N lists only what was
            revoked after list N, so a relying party that applied list N fetches the delta and keeps the new number.
            See docs/revocation.md, "Deny lists".
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The vendor whose CA's revocations to list.") var vendor: String
    @Option(help: "Only what was revoked after deny list number N (a delta).") var since: Int64?
    @Option(help: "Where to write the list (default: DIR/denylist/<vendor-ca>[-since-N].dl).") var out: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let directory = location.directory
        let store = try directory.openRevocationRegistry()
        let ecosystem = try directory.openEcosystem(passphrase: try directory.passphrase())
        let authority = try await ecosystem.vendorAuthority(try VendorName(vendor))
        if let since, since < 0 {
            throw FleetkeyError(.invalidArgument, "--since \(since) must be a deny list number, 0 or more")
        }
        let list = try await DenyListPublisher(store: store, policy: ecosystem.policy, clock: Runtime.clock).denyList(
            authority, since: since)
        let name = authority.id + (since.map { "-since-\($0)" } ?? "") + ".dl"
        let file = URL(
            fileURLWithPath: out ?? directory.url.appendingPathComponent("denylist").appendingPathComponent(name).path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let der = try list.derBytes()
        try Data(der).write(to: file, options: .atomic)
        if json {
            try Output.json(
                DenyListShow.View(list, file: file.path, bytes: der.count, signatureValid: true))
        } else {
            Output.line(
                "\(authority.id): deny list \(list.tbs.number)\(since.map { " (delta since \($0))" } ?? ""), "
                    + "\(list.tbs.entries.count) revoked device(s), \(der.count) bytes -> \(file.path)")
        }
    }
}

struct DenyListShow: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Check a deny list's signature against its vendor CA's certificate, then print it.",
        discussion: "Nothing of a list whose signature does not verify is printed: the command fails instead.")

    @Argument(help: "The deny list (DER).") var file: String
    @Option(help: "The vendor CA certificate (PEM or DER) that must have signed it.") var issuer: String
    @Flag(help: "Print the result as JSON.") var json = false

    struct View: Encodable {
        struct Entry: Encodable {
            var device: String
            var certificateSerial: String
            var revocationDate: Date
            var reason: String
        }
        var file: String
        var bytes: Int
        var issuer: String
        var number: Int64
        var baseNumber: Int64?
        var thisUpdate: Date
        var nextUpdate: Date
        var signatureValid: Bool
        var entries: [Entry]

        init(_ list: DenyList, file: String, bytes: Int, signatureValid: Bool) {
            self.file = file
            self.bytes = bytes
            issuer = list.tbs.issuer.description
            number = list.tbs.number
            baseNumber = list.tbs.baseNumber
            thisUpdate = list.tbs.thisUpdate
            nextUpdate = list.tbs.nextUpdate
            self.signatureValid = signatureValid
            entries = list.tbs.entries.map {
                Entry(
                    device: $0.device, certificateSerial: Hex.upper($0.certificateSerial),
                    revocationDate: $0.revocationDate,
                    reason: $0.reason.name)
            }
        }
    }

    func execute() async throws {
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw FleetkeyError(.invalidArgument, "cannot read the deny list '\(file)'")
        }
        guard let issuerBytes = FileManager.default.contents(atPath: issuer) else {
            throw FleetkeyError(.invalidArgument, "cannot read the issuer certificate '\(issuer)'")
        }
        let ca = try PEMOrDER.certificate(Array(issuerBytes), source: "--issuer \(issuer)")
        let list: DenyList
        do {
            list = try DenyList(derEncoded: Array(bytes))
        } catch {
            throw FleetkeyError(.malformedInput, "'\(file)' is not a DER deny list: \(error)")
        }
        // Verified before anything of it is printed: an unsigned or altered list must not be read as one.
        guard list.isSignatureValid(issuer: ca) else {
            throw FleetkeyError(
                .statusNotVerified,
                "the deny list '\(file)' is not signed by '\(ca.subject)' (--issuer \(issuer)): do not trust its "
                    + "contents; nothing of it was printed")
        }
        let view = View(list, file: file, bytes: bytes.count, signatureValid: true)
        if json {
            try Output.json(view)
        } else {
            Output.line(
                "Deny list \(view.number)\(view.baseNumber.map { " (delta since \($0))" } ?? "") of \(view.issuer)")
            Output.line(
                "  valid      \(ISO8601DateFormatter().string(from: view.thisUpdate)) to \(ISO8601DateFormatter().string(from: view.nextUpdate))"
            )
            Output.line("  signature  valid (\(ca.subject))")
            for entry in view.entries {
                Output.line("  \(entry.device)  \(entry.certificateSerial)  \(entry.reason)")
            }
            Output.line("\(view.entries.count) revoked device(s)")
        }
    }
}
