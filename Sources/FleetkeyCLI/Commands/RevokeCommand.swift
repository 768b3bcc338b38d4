import ArgumentParser
import FleetkeyCore
import Foundation

struct RevokeCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a certificate, a device, a whole lot, or a vendor and everything under it.",
        discussion: """
            Give exactly one of --serial, --device, --lot or --vendor. Reasons are RFC 5280 CRLReason names
            (keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold,
            privilegeWithdrawn, aACompromise, unspecified). Each revocation is recorded as lifecycle events in one
            transaction; a running `fleetkey serve` answers OCSP with the new status within seconds and lists it
            in the next CRL. Needs no passphrase: nothing is signed here.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "A certificate serial number (hex).") var serial: String?
    @Option(help: "With --serial: the issuing authority (root, vendor-<name>) when several CAs used the serial.")
    var issuer: String?
    @Option(help: "A device: SERIAL or VENDOR/SERIAL.") var device: String?
    @Option(help: "A production lot: LOT or VENDOR/LOT.") var lot: String?
    @Option(help: "A vendor: its issuing CA and every certificate under it.") var vendor: String?
    @Option(help: "The RFC 5280 reason code.") var reason: String
    @Option(help: "When the key was compromised (ISO 8601, e.g. 2026-11-20T10:00:00Z).") var invalidityDate: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
        let given = [serial, device, lot, vendor].compactMap { $0 }.count
        guard given == 1 else { throw ValidationError("give exactly one of --serial, --device, --lot or --vendor") }
        if issuer != nil && serial == nil { throw ValidationError("--issuer goes with --serial") }
    }

    func execute() async throws {
        let reason = try RevocationReason(parsing: self.reason)
        var invalidity: Date?
        if let invalidityDate {
            guard let date = ISO8601DateFormatter().date(from: invalidityDate) else {
                throw FleetkeyError(
                    .invalidArgument,
                    "--invalidity-date '\(invalidityDate)' is not an ISO 8601 time such as 2026-11-20T10:00:00Z")
            }
            invalidity = date
        }
        let target: RevocationTarget
        if let serial {
            target = .certificate(serial: serial, issuer: issuer)
        } else if let device {
            let (vendor, name) = try Self.qualified(device)
            target = .device(serial: try DeviceSerial(name), vendor: vendor)
        } else if let lot {
            let (vendor, name) = try Self.qualified(lot)
            target = .lot(name: try LotName(name, field: "--lot").value, vendor: vendor)
        } else {
            target = .vendor(try VendorName(vendor!))
        }
        let store = try location.directory.openRevocationRegistry()
        let report = try await Revoker(store: store, clock: Runtime.clock, actor: Actor.current).revoke(
            target, reason: reason, invalidityDate: invalidity)
        if json {
            try Output.json(
                Result(
                    target: target.description, reason: reason.name,
                    revoked: report.revoked.map { "\($0.issuer)/\($0.serial)" },
                    alreadyRevoked: report.alreadyRevoked, devices: report.devices, issuers: report.issuers.sorted()))
        } else if report.revoked.isEmpty {
            Output.line("Nothing to revoke: \(target) is already revoked (\(report.alreadyRevoked) certificate(s)).")
        } else {
            Output.line(
                "Revoked \(report.revoked.count) certificate(s) of \(target) (\(reason.name)); \(report.devices) device(s) now revoked"
                    + (report.alreadyRevoked > 0 ? "; \(report.alreadyRevoked) were already revoked" : ""))
            Output.line(
                "CRLs to refresh: \(report.issuers.sorted().joined(separator: ", ")) (fleetkey serve does it; or `fleetkey crl publish`)"
            )
        }
    }

    struct Result: Encodable {
        var target: String
        var reason: String
        var revoked: [String]
        var alreadyRevoked: Int
        var devices: Int
        var issuers: [String]
    }

    /// `NAME` or `VENDOR/NAME`.
    static func qualified(_ text: String) throws -> (VendorName?, String) {
        guard let slash = text.firstIndex(of: "/") else { return (nil, text) }
        return (try VendorName(String(text[..<slash])), String(text[text.index(after: slash)...]))
    }
}
