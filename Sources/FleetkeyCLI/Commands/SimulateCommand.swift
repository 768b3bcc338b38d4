import ArgumentParser
import FleetkeyCore
import FleetkeyCustody
import FleetkeyDevice
import Foundation
import Histogram
import NIOPosix
import SwiftASN1
import X509

struct SimulateCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a fleet of emulated devices through EST enrollment and re-enrollment against a running server.",
        discussion: """
            Provisions --devices devices for a vendor of the ecosystem in --dir into their secure elements \
            (--element: emulated, or on a PKCS#11 token), or takes the existing --lot; exports their manifest for \
            the owner in --owner and imports it there, then drives every device \
            through /simpleenroll and /simplereenroll on --server with the device SDK (FleetkeyDevice): each key in \
            its element, each TLS handshake signed there. Devices retry what may pass (a server down, 5xx, 202) with \
            capped exponential backoff. Reports throughput, latency (p50, p99, maximum) and every error by kind; \
            exits 1 if any device did not finish. The owner's `fleetkey serve --est` must be running.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "How many devices.") var devices: Int
    @Option(help: "How many devices talk to the server at once.") var concurrency = 16
    @Option(help: "The EST server, https://HOST:PORT.") var server: String
    @Option(help: "The owner's registry directory (fleetkey owner init, owner ca create).") var owner: String
    @Option(help: "The vendor whose devices these are (default: the ecosystem's only vendor).") var vendor: String?
    @Option(help: "The lot: an existing one is taken as it is, a new one is provisioned (default: SIM-<time>).")
    var lot: String?
    @Option(
        help: "PEM file of the CA certificates the server's TLS certificate chains to (default: the owner's domain CA)."
    )
    var serverTrust: String?
    @Option(
        help: ArgumentHelp(
            ElementSourceOption.help,
            discussion:
                "With pkcs11: every device's element lives on that token, and so do its keys and TLS signatures."))
    var element = "emulator"
    @Option(help: "Attempts per operation before a device gives up.") var maxAttempts = 40
    @Option(help: "The longest wait between two attempts, in seconds.") var retryCap = 4.0
    @Flag(help: "Print the result as JSON.") var json = false

    struct Latency: Encodable {
        var count: Int
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        var maximumMilliseconds: Double
    }

    struct Result: Encodable {
        var devices: Int
        var concurrency: Int
        var vendor: String
        var lot: String
        var seconds: Double
        var operations: Int
        var operationsPerSecond: Double
        var enroll: Latency
        var reenroll: Latency
        /// Errors a device retried past, by kind.
        var retriedErrors: [String: Int]
        /// Errors that ended a device's run, by kind.
        var errors: [String: Int]
        var failedDevices: [String]
    }

    /// What one device did.
    struct DeviceRun: Sendable {
        var serial: String
        var enrollMicroseconds: UInt64?
        var reenrollMicroseconds: UInt64?
        var retried: [String] = []
        var failure: String?
        var failureDetail: String?
    }

    func validate() throws {
        guard (1...10_000_000).contains(devices) else { throw ValidationError("--devices must be 1 to 10000000") }
        guard (1...4096).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 4096") }
        guard maxAttempts >= 1, retryCap > 0 else {
            throw ValidationError("--max-attempts and --retry-cap must be > 0")
        }
    }

    func execute() async throws {
        let directory = location.directory
        let ownerDirectory = EcosystemDirectory.resolve(owner)
        guard try ownerDirectory.configuration().role == "owner" else {
            throw FleetkeyError(.invalidArgument, "--owner \(owner) is not an owner's registry (fleetkey owner init)")
        }
        guard let serverURL = URL(string: server) else {
            throw FleetkeyError(.invalidArgument, "--server '\(server)' is not a URL such as https://127.0.0.1:8443")
        }
        let ecosystem = try directory.openEcosystem(passphrase: try directory.passphrase())
        guard let supplyChain = ecosystem.store as? any SupplyChainStore & RevocationStore else {
            throw FleetkeyError(.configuration, "this registry does not support the supply chain")
        }
        let vendorName = try await vendorToUse(ecosystem.store)
        let lotName = lot ?? "SIM-" + Self.stamp(Runtime.clock.now())
        _ = try LotName(lotName, field: "--lot")

        // 1. The factory: provision the lot (a rerun finishes or skips what exists).
        let elements = try ElementSourceOption.source(element, directory: directory, vendor: vendorName)
        let existing = try await ecosystem.store.devices(matching: DeviceFilter(vendor: vendorName, lot: lotName))
        if existing.count < devices {
            let line = try FactoryLine(
                ecosystem: ecosystem, supplyChain: supplyChain, elements: elements, vendor: vendorName, lot: lotName)
            let authority = try await ecosystem.vendorAuthority(vendorName)
            var progress = ProgressLine(label: "provision \(vendorName)/\(lotName)", total: devices, quiet: json)
            for index in 1...devices {
                _ = try await line.provision(index, by: authority)
                progress.update(index)
            }
            progress.finish()
        }

        // 2. The supply chain: the lot's manifest, signed by the vendor, imported by the owner.
        let ownerName = try ownerDirectory.configuration().name
        let signer = try await ecosystem.delegatedSigner(
            vendor: vendorName, profile: CertificateProfile.Name.manifestSigner, index: supplyChain)
        let manifest = try await ManifestExporter(ecosystem: ecosystem, supplyChain: supplyChain).export(
            vendor: vendorName, lot: lotName, buyer: ownerName, signer: signer)
        let ownerStore = try ownerDirectory.openSupplyChainRegistry()
        guard let anchor = try await ownerStore.authority(id: TrustAnchor.authorityID) else {
            throw FleetkeyError(.configuration, "the owner's registry has no trust anchor")
        }
        let importer = ManifestImporter(
            store: ownerStore,
            verifier: ManifestVerifier(
                trustAnchor: try Certificate(derEncoded: anchor.certificateDER), now: Runtime.clock.now()),
            actor: Actor.current)
        if !json { Output.progress("importing the manifest of \(vendorName)/\(lotName) into '\(ownerName)' ...") }
        if case .rejected(let report) = try await importer.importManifest(
            manifest.bytes, owner: ownerName, status: .registry(supplyChain))
        {
            throw FleetkeyError(
                .manifestRejected, "the owner refused the lot's manifest: \(report.problems.prefix(3))")
        }

        // 3. The fleet: every device enrolls, then re-enrolls.
        let domainCA = try PEMOrDER.certificate(
            Array(try Data(contentsOf: ownerDirectory.certsURL.appendingPathComponent("domain-ca.pem"))),
            source: "the owner's domain CA")
        let trust = try serverTrust.map { try Self.certificates(file: $0) } ?? [domainCA]
        let client = try ESTClient(server: serverURL, serverTrust: trust, group: MultiThreadedEventLoopGroup.singleton)
        let policy = try ownerDirectory.policy().enrollment ?? .default
        let retry = RetryPolicy(initialDelay: 0.25, maximumDelay: retryCap, maximumAttempts: maxAttempts)
        let fleet = try await ecosystem.store.devices(matching: DeviceFilter(vendor: vendorName, lot: lotName))
            .sorted { $0.id.serial.value < $1.id.serial.value }.prefix(devices)
        let agents = try fleet.map { device -> (String, DeviceAgent) in
            guard let elementID = device.hardwareModule?.serialText,
                let element = try elements.existingElement(elementID)
            else {
                throw FleetkeyError(
                    .notFound, "device \(device.id) has no element in \(elements.description)")
            }
            return (
                device.id.serial.value,
                DeviceAgent(
                    element: element, client: client, domainTrust: [domainCA], retry: retry,
                    renewal: RenewalSchedule(policy), clock: Runtime.clock, random: Runtime.random)
            )
        }
        var progress = ProgressLine(label: "simulate \(agents.count) devices", total: agents.count, quiet: json)
        let started = ContinuousClock.now
        var runs: [DeviceRun] = []
        try await withThrowingTaskGroup(of: DeviceRun.self) { group in
            var next = agents.makeIterator()
            for _ in 0..<min(concurrency, agents.count) {
                if let (serial, agent) = next.next() { group.addTask { await Self.drive(serial, agent) } }
            }
            while let run = try await group.next() {
                runs.append(run)
                progress.update(runs.count)
                if let (serial, agent) = next.next() { group.addTask { await Self.drive(serial, agent) } }
            }
        }
        progress.finish()
        try report(runs, seconds: started.secondsUntilNow, vendor: vendorName, lot: lotName)
    }

    /// One device's run: enroll, then re-enroll, each timed (retries included).
    static func drive(_ serial: String, _ agent: DeviceAgent) async -> DeviceRun {
        var run = DeviceRun(serial: serial)
        for operation in ["enroll", "reenroll"] {
            var attempts = DeviceAgent.Attempts()
            let started = ContinuousClock.now
            do {
                if operation == "enroll" {
                    try await agent.enroll(attempts: &attempts)
                    run.enrollMicroseconds = UInt64(started.secondsUntilNow * 1_000_000)
                } else {
                    try await agent.reenroll(attempts: &attempts)
                    run.reenrollMicroseconds = UInt64(started.secondsUntilNow * 1_000_000)
                }
                run.retried += attempts.errors.map(\.kind)
            } catch {
                run.retried += attempts.errors.map(\.kind)
                run.failure = (error as? ESTClientError)?.kind ?? (error as? FleetkeyError)?.code.name ?? "other"
                run.failureDetail = "\(operation): \(error)"
                return run
            }
        }
        return run
    }

    func report(_ runs: [DeviceRun], seconds: Double, vendor: VendorName, lot: String) throws {
        func latency(_ values: [UInt64]) -> Latency {
            var histogram = Histogram<UInt64>(
                highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
            for value in values { _ = histogram.record(max(1, value)) }
            let milliseconds = { (value: UInt64) in Double(value) / 1000 }
            return Latency(
                count: values.count,
                p50Milliseconds: values.isEmpty ? 0 : milliseconds(histogram.valueAtPercentile(50)),
                p99Milliseconds: values.isEmpty ? 0 : milliseconds(histogram.valueAtPercentile(99)),
                maximumMilliseconds: values.isEmpty ? 0 : milliseconds(histogram.max))
        }
        let enroll = runs.compactMap(\.enrollMicroseconds)
        let reenroll = runs.compactMap(\.reenrollMicroseconds)
        let failed = runs.filter { $0.failure != nil }
        let result = Result(
            devices: runs.count, concurrency: concurrency, vendor: vendor.value, lot: lot, seconds: seconds,
            operations: enroll.count + reenroll.count,
            operationsPerSecond: Double(enroll.count + reenroll.count) / max(seconds, 0.001),
            enroll: latency(enroll), reenroll: latency(reenroll),
            retriedErrors: runs.flatMap(\.retried).reduce(into: [:]) { $0[$1, default: 0] += 1 },
            errors: failed.reduce(into: [:]) { $0[$1.failure!, default: 0] += 1 },
            failedDevices: failed.map(\.serial).sorted())
        if json {
            try Output.json(result)
        } else {
            Output.line(
                "Simulated \(result.devices) device(s) of \(vendor)/\(lot), \(concurrency) at once: "
                    + String(
                        format: "%d operations in %.1f s, %.1f/s", result.operations, seconds,
                        result.operationsPerSecond))
            for (name, figures) in [("enroll", result.enroll), ("reenroll", result.reenroll)] {
                Output.line(
                    "  \(name.padding(toLength: 9, withPad: " ", startingAt: 0)) "
                        + String(
                            format: "%d done, p50 %.1f ms, p99 %.1f ms, max %.1f ms", figures.count,
                            figures.p50Milliseconds, figures.p99Milliseconds, figures.maximumMilliseconds))
            }
            let retried = result.retriedErrors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            Output.line("  retried   " + (retried.isEmpty ? "none" : retried.joined(separator: ", ")))
            let errors = result.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            Output.line("  errors    " + (errors.isEmpty ? "none" : errors.joined(separator: ", ")))
            for run in failed.prefix(5) { Output.line("    \(run.serial): \(run.failureDetail ?? "")") }
        }
        if !failed.isEmpty {
            throw FleetkeyError(
                .conflict,
                "\(failed.count) of \(runs.count) device(s) did not finish; the first: "
                    + "\(failed.first!.serial): \(failed.first!.failureDetail ?? "")")
        }
    }

    func vendorToUse(_ store: any RegistryStore) async throws -> VendorName {
        if let vendor { return try VendorName(vendor) }
        let vendors = try await store.vendors().filter { $0.state == .active }
        guard vendors.count == 1, let only = vendors.first else {
            throw FleetkeyError(
                .invalidArgument,
                vendors.isEmpty
                    ? "the ecosystem has no active vendor; add one with `fleetkey vendor add NAME`"
                    : "the ecosystem has several vendors; name one with --vendor")
        }
        return only.name
    }

    static func certificates(file: String) throws -> [Certificate] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw FleetkeyError(.invalidArgument, "cannot read --server-trust \(file)")
        }
        do {
            let certificates = try PEMDocument.parseMultiple(pemString: text).map { try Certificate(pemDocument: $0) }
            guard !certificates.isEmpty else { throw FleetkeyError(.invalidArgument, "no certificate") }
            return certificates
        } catch {
            throw FleetkeyError(.invalidArgument, "--server-trust \(file) holds no PEM certificate")
        }
    }

    static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: date)
    }
}
