import ArgumentParser
import FleetkeyCore
import Foundation
import SwiftASN1

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: "Inspect devices in the registry.",
        subcommands: [DeviceList.self, DeviceShow.self, DeviceCommission.self])
}

/// A device as the CLI prints it.
struct DeviceView: Encodable {
    var vendor: String
    var serial: String
    var state: String
    var lot: String?
    var keyFingerprint: String
    var hardwareModuleName: [String: String]?
    /// Whether the factory recorded the secure element's attestation of the key.
    var attested: Bool
    var owner: String?
    var createdAt: Date
    var updatedAt: Date

    init(_ record: DeviceRecord) {
        vendor = record.id.vendor.value
        serial = record.id.serial.value
        state = record.state.rawValue
        lot = record.lot
        keyFingerprint = record.keyFingerprint
        hardwareModuleName = record.hardwareModule.map {
            ["hwType": $0.hardwareType.description, "hwSerialNum": $0.serialText]
        }
        attested = record.attestation != nil
        owner = record.owner
        createdAt = record.createdAt
        updatedAt = record.updatedAt
    }
}

struct DeviceList: FleetkeyCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List devices.")

    @OptionGroup var location: DirectoryOption
    @Option(help: "Only this vendor's devices.") var vendor: String?
    @Option(help: "Only devices in this lifecycle state.") var state: String?
    @Option(help: "Only devices of this lot.") var lot: String?
    @Option(help: "At most this many devices.") var limit: Int?
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        var filter = DeviceFilter(lot: lot, limit: limit)
        if let vendor { filter.vendor = try VendorName(vendor) }
        if let state {
            guard let parsed = DeviceState(rawValue: state) else {
                throw FleetkeyError(
                    .invalidArgument,
                    "--state '\(state)' is not a lifecycle state; use one of "
                        + DeviceState.allCases.map(\.rawValue).joined(separator: ", "))
            }
            filter.state = parsed
        }
        let devices = try await location.directory.openRegistry().devices(matching: filter).map(DeviceView.init)
        if json {
            try Output.json(devices)
            return
        }
        Output.line(
            "VENDOR".padding(toLength: 16, withPad: " ", startingAt: 0)
                + "SERIAL".padding(toLength: 24, withPad: " ", startingAt: 0) + "STATE         LOT")
        for device in devices {
            Output.line(
                device.vendor.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + device.serial.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + device.state.padding(toLength: 14, withPad: " ", startingAt: 0) + (device.lot ?? "-"))
        }
        Output.line("\(devices.count) device(s)")
    }
}

struct DeviceShow: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one device, its certificates and its event history.")

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The device serial, or VENDOR/SERIAL when several vendors use the serial.") var device: String
    @Flag(help: "Print the result as JSON.") var json = false

    struct Detail: Encodable {
        var device: DeviceView
        var certificates: [[String: String]]
        var events: [[String: String]]
    }

    /// The one device `text` names: `SERIAL`, or `VENDOR/SERIAL` when several vendors use the serial.
    static func find(_ text: String, in registry: any RegistryStore) async throws -> DeviceRecord {
        var matches: [DeviceRecord]
        if let slash = text.firstIndex(of: "/") {
            let id = DeviceID(
                vendor: try VendorName(String(text[..<slash])),
                serial: try DeviceSerial(String(text[text.index(after: slash)...])))
            matches = try await registry.device(id).map { [$0] } ?? []
        } else {
            matches = try await registry.devices(serial: try DeviceSerial(text))
        }
        guard let record = matches.first else {
            throw FleetkeyError(.notFound, "no device '\(text)' in the registry; see `fleetkey device list`")
        }
        guard matches.count == 1 else {
            throw FleetkeyError(
                .invalidArgument,
                "serial '\(text)' belongs to several vendors (\(matches.map(\.id.vendor.value).joined(separator: ", "))); "
                    + "name one as VENDOR/SERIAL")
        }
        return record
    }

    func execute() async throws {
        let registry = try location.directory.openRegistry()
        let record = try await Self.find(device, in: registry)
        let formatter = ISO8601DateFormatter()
        let certificates = try await registry.certificates(forDevice: record.id).map {
            [
                "issuer": $0.issuer, "serial": $0.serial, "status": $0.status.rawValue, "profile": $0.profile,
                "notAfter": formatter.string(from: $0.notAfter),
            ]
        }
        let events = try await registry.events(subject: .device(record.id), limit: nil).map { event in
            var row = ["at": formatter.string(from: event.at), "actor": event.actor, "action": event.action.rawValue]
            if let from = event.fromState { row["from"] = from }
            if let to = event.toState { row["to"] = to }
            return row
        }
        let detail = Detail(device: DeviceView(record), certificates: certificates, events: events)
        if json {
            try Output.json(detail)
            return
        }
        Output.line("Device \(record.id) — \(record.state.rawValue)")
        if let lot = record.lot { Output.line("  lot          \(lot)") }
        if let owner = record.owner { Output.line("  owner        \(owner)") }
        Output.line("  key          sha256:\(record.keyFingerprint)")
        if let hardware = record.hardwareModule {
            Output.line("  hardware     \(hardware.serialText) (hwType \(hardware.hardwareType))")
        }
        for certificate in certificates {
            Output.line(
                "  certificate  \(certificate["issuer"]!)/\(certificate["serial"]!) \(certificate["status"]!) until \(certificate["notAfter"]!)"
            )
        }
        for event in events {
            Output.line(
                "  \(event["at"]!)  \(event["action"]!)  \(event["from"] ?? "")→\(event["to"] ?? "")  by \(event["actor"]!)"
            )
        }
    }
}

struct DeviceCommission: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "commission",
        abstract:
            "Approve a shipped device's enrollment: it becomes commissioned, and its next EST enrollment is issued.",
        discussion: """
            For an owner's registry whose policy.json asks for approval (enrollment.requireApproval): until then the \
            device's /simpleenroll is answered 202 with Retry-After (RFC 7030 §4.2.3). Recorded as device.commissioned.
            """)

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The device serial, or VENDOR/SERIAL when several vendors use the serial.") var device: String
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let directory = location.directory
        let registry = try directory.openSupplyChainRegistry()
        let record = try await DeviceShow.find(device, in: registry)
        let changed = try await OwnerRegistry(store: registry, clock: Runtime.clock, actor: Actor.current)
            .commission(record.id)
        if json {
            try Output.json(DeviceView(changed))
        } else {
            Output.line("Commissioned \(record.id): its next EST enrollment will be issued")
        }
    }
}
