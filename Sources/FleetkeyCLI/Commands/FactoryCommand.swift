import ArgumentParser
import FleetkeyCore
import FleetkeyCustody
import FleetkeyPKCS11
import Foundation

struct FactoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "factory", abstract: "The factory line: identities into secure elements.",
        subcommands: [FactoryProvision.self])
}

struct FactoryProvision: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Provision a lot of devices: key made in each secure element, certificate written back, slot locked.",
        discussion: """
            Device N of lot LOT gets serial LOT-00000N and the secure element VENDOR-CA-ID.LOT-00000N. For each device
            the element generates the key and signs the request inside; the vendor CA issues the device identity
            with its hardwareModuleName; the certificate is written into the element, the slot is locked, and the
            element's attestation is checked and recorded. The registry says provisioned only once all of that is done.

            Safe to interrupt and to run again: a rerun with the same --lot and --count skips provisioned devices,
            finishes a device that stopped half-way with the key its element already holds, and continues the lot.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The vendor whose CA issues the identities.") var vendor: String
    @Option(help: "The lot: names the devices (LOT-000001, ...) and groups them for manifests.") var lot: String
    @Option(help: "How many devices the lot has (1...1000000).") var count: Int
    @Option(
        help: ArgumentHelp(
            "The secure elements: emulator (files in DIR/elements/<vendor-ca>), emulator:PATH, or pkcs11:token=LABEL?module-path=...",
            discussion:
                "With pkcs11: every device's element lives on that token; the PIN comes from FLEETKEY_PKCS11_PIN or pin-source."
        ))
    var element = "emulator"
    @Flag(help: "Print the result as JSON.") var json = false

    struct Result: Encodable {
        var vendor: String
        var lot: String
        var count: Int
        var provisioned: Int
        var finished: Int
        var alreadyProvisioned: Int
        var elements: String
        var seconds: Double
        var devicesPerSecond: Double
    }

    func execute() async throws {
        guard (1...1_000_000).contains(count) else {
            throw FleetkeyError(.invalidArgument, "--count \(count) must be in 1...1000000")
        }
        try FactoryLine.checkLot(lot)
        let directory = location.directory
        let vendorName = try VendorName(vendor)
        let elements = try ElementSourceOption.source(element, directory: directory, vendor: vendorName)
        let ecosystem = try directory.openEcosystem(passphrase: try directory.passphrase())
        guard let supplyChain = ecosystem.store as? any SupplyChainStore else {
            throw FleetkeyError(.configuration, "this registry does not support factory provisioning")
        }
        let authority = try await ecosystem.vendorAuthority(vendorName)
        let line = try FactoryLine(
            ecosystem: ecosystem, supplyChain: supplyChain, elements: elements, vendor: vendorName, lot: lot)
        var progress = ProgressLine(label: "provision \(vendorName)/\(lot)", total: count, quiet: count < 50)
        var tally: [FactoryLine.Outcome: Int] = [:]
        let started = ContinuousClock.now
        for index in 1...count {
            do {
                tally[try await line.provision(index, by: authority), default: 0] += 1
            } catch let error as FleetkeyError {
                progress.finish()
                let done = tally.values.reduce(0, +)
                // A revoked vendor or CA ends the lot for good; anything else can be resumed.
                let next =
                    error.code == .invalidTransition
                    ? "the run stops here; the lot cannot be continued under this CA"
                    : "rerun the same command to continue"
                throw FleetkeyError(
                    error.code,
                    "device \(index) of lot '\(lot)': \(error.reason) (\(done) device(s) before it were handled in "
                        + "this run; \(next))")
            }
            progress.update(index)
        }
        progress.finish()
        let seconds = started.secondsUntilNow
        let result = Result(
            vendor: vendorName.value, lot: lot, count: count, provisioned: tally[.provisioned] ?? 0,
            finished: tally[.finished] ?? 0, alreadyProvisioned: tally[.alreadyProvisioned] ?? 0,
            elements: elements.description, seconds: seconds, devicesPerSecond: Double(count) / max(seconds, 0.001))
        if json {
            try Output.json(result)
        } else {
            Output.line(
                "Lot \(vendorName)/\(lot): \(count) device(s) provisioned (\(result.provisioned) new, \(result.finished) "
                    + "finished from an earlier run, \(result.alreadyProvisioned) already done) in "
                    + String(format: "%.1f s, %.0f devices/s", seconds, result.devicesPerSecond))
            Output.line("  elements  \(elements.description)")
            Output.line("Next: fleetkey manifest export --vendor \(vendorName) --lot \(lot) --out \(lot).manifest")
        }
    }
}

/// A progress bar on stderr for long runs: count, percentage, rate and time left, redrawn at most 5 times a second.
struct ProgressLine {
    let label: String
    let total: Int
    let quiet: Bool
    private let started = ContinuousClock.now
    private var lastDrawn = ContinuousClock.now - .seconds(1)
    private var drawn = false

    init(label: String, total: Int, quiet: Bool = false) {
        self.label = label
        self.total = total
        self.quiet = quiet
    }

    mutating func update(_ done: Int) {
        guard !quiet, done == total || lastDrawn.duration(to: .now) >= .milliseconds(200) else { return }
        lastDrawn = .now
        drawn = true
        let fraction = Double(done) / Double(max(total, 1))
        let width = 30
        let filled = Int(fraction * Double(width))
        let rate = Double(done) / max(started.secondsUntilNow, 0.001)
        let left = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let figures = String(format: "%3.0f%% %.0f/s, %.0f s left ", fraction * 100, rate, left)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total) \(figures)".utf8))
    }

    mutating func finish() {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}

extension ContinuousClock.Instant {
    var secondsUntilNow: Double {
        let elapsed = duration(to: .now).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }
}
