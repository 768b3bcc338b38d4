import ArgumentParser
import FleetkeyCore
import Foundation

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "Device groups with attributes, which access-control policies name.",
        subcommands: [GroupCreate.self, GroupAdd.self, GroupList.self])
}

/// A group as the CLI prints it.
struct GroupView: Encodable {
    var name: String
    var attributes: [String: String]
    var members: [[String: String]]
    var createdAt: Date

    init(_ group: DeviceGroup) {
        name = group.name
        attributes = group.attributes
        members = group.selectors.map { selector in
            var row = ["kind": selector.kind]
            if let vendor = selector.vendor { row["vendor"] = vendor.value }
            if let value = selector.value { row["value"] = value }
            return row
        }
        createdAt = group.createdAt
    }
}

struct GroupCreate: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a device group, with attributes.",
        discussion: "Recorded as group.created. Example: fleetkey group create berlin-sensors --attr site=berlin")

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The group's name: 1-64 letters, digits, '-', '.' or '_'.") var name: String
    @Option(name: .customLong("attr"), help: "An attribute, KEY=VALUE; repeat for several.") var attributes: [String] =
        []
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let group = try await AccessControl(
            store: try location.directory.openAccessRegistry(), clock: Runtime.clock, actor: Actor.current
        ).createGroup(name, attributes: attributes)
        if json {
            try Output.json(GroupView(group))
        } else {
            Output.line(
                "Created group \(group.name)"
                    + (group.attributes.isEmpty
                        ? ""
                        : " ("
                            + group.attributes.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }
                            .joined(separator: ", ") + ")"))
        }
    }
}

struct GroupAdd: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add devices to a group: by lot, by vendor, or by serial.",
        discussion: """
            --lot L takes in the lot's devices, also those that arrive later (of --vendor V when given); --vendor V \
            alone takes in all of a vendor's devices; --serial S one device (VENDOR/SERIAL when several vendors use \
            the serial). Recorded as group.changed.
            """)

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The group.") var name: String
    @Option(help: "A lot whose devices join the group.") var lot: String?
    @Option(help: "A vendor whose devices join (with --lot: the vendor of that lot).") var vendor: String?
    @Option(help: "A device serial, or VENDOR/SERIAL; repeat for several.") var serial: [String] = []
    @Flag(help: "Print the group as JSON afterwards.") var json = false

    func execute() async throws {
        let vendorName = try vendor.map { try VendorName($0) }
        var selectors: [GroupSelector] = []
        if let lot {
            selectors.append(.lot(vendor: vendorName, name: lot))
        } else if let vendorName {
            selectors.append(.vendor(vendorName))
        }
        for text in serial {
            if let slash = text.firstIndex(of: "/") {
                selectors.append(
                    .device(
                        vendor: try VendorName(String(text[..<slash])),
                        serial: try DeviceSerial(String(text[text.index(after: slash)...]))))
            } else {
                selectors.append(.device(vendor: vendorName, serial: try DeviceSerial(text)))
            }
        }
        let registry = try location.directory.openAccessRegistry()
        try await AccessControl(store: registry, clock: Runtime.clock, actor: Actor.current).add(selectors, to: name)
        let group = try await registry.groups().first { $0.name == name }
        if json, let group {
            try Output.json(GroupView(group))
        } else {
            Output.line("Added \(selectors.map(\.description).joined(separator: ", ")) to group \(name)")
        }
    }
}

struct GroupList: FleetkeyCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List device groups.")

    @OptionGroup var location: DirectoryOption
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let groups = try await location.directory.openAccessRegistry().groups().map(GroupView.init)
        if json {
            try Output.json(groups)
            return
        }
        for group in groups {
            let attributes = group.attributes.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: ",")
            let members = group.members.map { member in
                "\(member["kind"]!) " + [member["vendor"], member["value"]].compactMap { $0 }.joined(separator: "/")
            }
            Output.line(
                group.name.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + (attributes.isEmpty ? "-" : attributes).padding(toLength: 32, withPad: " ", startingAt: 0)
                    + (members.isEmpty ? "(no members)" : members.joined(separator: "; ")))
        }
        Output.line("\(groups.count) group(s)")
    }
}
