import ArgumentParser
import FleetkeyCore
import Foundation

struct ExpiryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expiry", abstract: "What expires when: certificates, and the CAs whose expiry strands others.",
        subcommands: [ExpiryReportCommand.self])
}

struct ExpiryReportCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "List the valid certificates that expire within a window, soonest first.",
        discussion: """
            Certificates are read through the registry's expiry index, so the report costs what the window holds. \
            A CA expiring in the window is listed with the valid certificates beneath it that its expiry cuts short \
            (issuance ends a certificate no later than its issuer; these end with it). An operational certificate past the renewal window of the owner's policy \
            (enrollment.renewAtFraction plus its jitter) is flagged "renewal overdue". Revoked certificates are left \
            out. Examples: fleetkey expiry report --within 30d; fleetkey expiry report --within 7d --group sensors \
            --json
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The window from now: a whole number and a unit, as 30d, 12h or 2w.") var within: String
    @Option(help: "Only the devices of this vendor.") var vendor: String?
    @Option(help: "Only the devices of this lot.") var lot: String?
    @Option(help: "Only the devices shipped to this owner (an ecosystem's registry).") var owner: String?
    @Option(help: "Only the members of this group (an owner's registry).") var group: String?
    @Option(help: "Print at most this many certificates in text (the JSON lists all).") var limit = 50
    @Flag(help: "Print the report as JSON.") var json = false

    func execute() async throws {
        let window = try DurationText.seconds(within, field: "--within")
        let filters = [vendor, lot, owner, group].compactMap { $0 }
        guard filters.count <= 1 else {
            throw FleetkeyError(.invalidArgument, "give at most one of --vendor, --lot, --owner and --group")
        }
        let directory = location.directory
        let store = try directory.openFleetRegistry()
        let scope: ExpiryScope
        if let vendor {
            scope = .vendor(try VendorName(vendor))
        } else if let lot {
            scope = .lot(lot)
        } else if let owner {
            scope = .owner(owner)
        } else if let group {
            guard let found = try await store.groups().first(where: { $0.name == group }) else {
                throw FleetkeyError(.notFound, "no group '\(group)' in this registry; see `fleetkey group list`")
            }
            scope = .group(found)
        } else {
            scope = .all
        }
        let policy = try directory.policy()
        let report = try await ExpiryReporter(store: store, clock: Runtime.clock, renewal: policy.enrollment)
            .report(within: window, scope: scope)
        if json {
            try Output.json(report)
            return
        }
        let dates = ISO8601DateFormatter()
        Output.line(
            "\(report.certificates.count) certificate(s) of \(report.scope) expire within \(within) "
                + "(by \(dates.string(from: report.windowEnd)))"
                + (report.renewalOverdue > 0 ? "; \(report.renewalOverdue) overdue for renewal" : ""))
        for entry in report.certificates.prefix(limit) {
            let who = entry.device ?? entry.subject
            Output.line(
                "  \(dates.string(from: entry.notAfter))  \(String(format: "%4d", entry.daysLeft))d  "
                    + "\(entry.issuer)/\(entry.serial)  \(who)" + (entry.renewalOverdue ? "  renewal overdue" : ""))
        }
        if report.certificates.count > limit {
            Output.line("  … and \(report.certificates.count - limit) more (--limit, or --json for all)")
        }
        for authority in report.authorities {
            Output.line(
                "CA \(authority.id) (\(authority.kind)) expires \(dates.string(from: authority.notAfter)) "
                    + "in \(authority.daysLeft)d: \(authority.outlivingCertificates) valid certificate(s) beneath it end "
                    + "with it")
        }
    }
}
