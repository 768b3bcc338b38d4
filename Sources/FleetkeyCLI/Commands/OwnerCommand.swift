import ArgumentParser
import FleetkeyCore
import FleetkeySQLite
import Foundation
import SwiftASN1
import X509

struct OwnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "owner", abstract: "Device owners: their own registry, or owners inside an ecosystem's registry.",
        subcommands: [OwnerInit.self, OwnerAdd.self, OwnerList.self, OwnerCACommand.self])
}

struct OwnerInit: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a device owner's registry that trusts one ecosystem root and holds no CA keys.",
        discussion: """
            The owner imports the manifests its vendors ship (fleetkey manifest import) and runs its devices from
            there. The trust anchor is copied into DIR; nothing in DIR can issue or sign.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The owner's name.") var name: String
    @Option(help: "The ecosystem's root certificate (PEM or DER), obtained out of band.") var trustAnchor: String
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let directory = location.directory
        guard !directory.exists else {
            throw FleetkeyError(
                .alreadyExists,
                "\(directory.url.path) already holds a registry (fleetkey.json); refusing to overwrite it")
        }
        try OwnerRegistry.checkOwnerName(name)
        guard let bytes = FileManager.default.contents(atPath: trustAnchor) else {
            throw FleetkeyError(.invalidArgument, "cannot read the trust anchor '\(trustAnchor)'")
        }
        let root = try PEMOrDER.certificate(Array(bytes), source: "--trust-anchor \(trustAnchor)")
        try TrustAnchor.check(root)
        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
        let anchorFile = directory.url.appendingPathComponent("trust-anchor.pem")
        try Data((try root.pemString() + "\n").utf8).write(to: anchorFile, options: .atomic)
        let registry = try SQLiteRegistry(path: directory.registryURL.path)
        try await OwnerRegistry(store: registry, clock: Runtime.clock, actor: Actor.current)
            .create(trusting: root, owner: name)
        // Written last: its presence is what marks a complete registry.
        try directory.writeConfiguration(
            .init(
                format: 1, name: name, registry: "registry.sqlite", keystore: nil, scryptLog2N: nil,
                createdAt: Runtime.clock.now(), role: "owner", trustAnchor: "trust-anchor.pem"))
        if json {
            try Output.json([
                "directory": directory.url.path, "owner": name, "trustAnchor": anchorFile.path,
                "trustAnchorSubject": root.subject.description, "registry": directory.registryURL.path,
            ])
        } else {
            Output.line("Created the registry of owner '\(name)' in \(directory.url.path)")
            Output.line("  trust anchor  \(root.subject) (\(anchorFile.path))")
            Output.line("Next: fleetkey manifest import FILE --dir \(directory.url.path)")
        }
    }
}

struct OwnerAdd: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add an owner to this registry (an owner living beside the ecosystem).")

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The owner's name.") var name: String
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let store = try location.directory.openSupplyChainRegistry()
        try await OwnerRegistry(store: store, clock: Runtime.clock, actor: Actor.current).addOwner(name)
        if json {
            try Output.json(["owner": name])
        } else {
            Output.line("Added owner '\(name)'")
        }
    }
}

struct OwnerList: FleetkeyCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the owners in this registry.")

    @OptionGroup var location: DirectoryOption
    @Flag(help: "Print the result as JSON.") var json = false

    func execute() async throws {
        let owners = try await location.directory.openSupplyChainRegistry().owners()
        if json {
            try Output.json(
                owners.map { ["name": $0.name, "createdAt": ISO8601DateFormatter().string(from: $0.createdAt)] })
        } else {
            for owner in owners { Output.line(owner.name) }
            Output.line("\(owners.count) owner(s)")
        }
    }
}

struct LotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lot", abstract: "Lots of devices.", subcommands: [LotShow.self])
}

struct LotShow: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a lot: its devices counted by lifecycle state, and who owns them.")

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The lot.") var lot: String
    @Flag(help: "Print the result as JSON.") var json = false

    struct View: Encodable {
        var vendor: String
        var lot: String
        var createdAt: Date
        var devices: Int
        var states: [String: Int]
        var owners: [String]
    }

    /// The vendor a lot belongs to: the one named, or the only one with such a lot.
    static func vendor(of lot: String, named name: String?, in store: any SupplyChainStore) async throws -> VendorName {
        if let name { return try VendorName(name) }
        let summaries = try await store.lotSummaries(lot: lot)
        guard let only = summaries.first else {
            throw FleetkeyError(.notFound, "no lot '\(lot)' in the registry")
        }
        guard summaries.count == 1 else {
            throw FleetkeyError(
                .invalidArgument,
                "several vendors have a lot '\(lot)' (\(summaries.map(\.vendor.value).joined(separator: ", "))); name one "
                    + "with --vendor")
        }
        return only.vendor
    }

    func execute() async throws {
        let summaries = try await location.directory.openSupplyChainRegistry().lotSummaries(lot: lot)
        guard !summaries.isEmpty else {
            throw FleetkeyError(.notFound, "no lot '\(lot)' in the registry; see `fleetkey device list`")
        }
        let views = summaries.map {
            View(
                vendor: $0.vendor.value, lot: $0.lot, createdAt: $0.createdAt, devices: $0.deviceCount,
                states: Dictionary(uniqueKeysWithValues: $0.devicesByState.map { ($0.key.rawValue, $0.value) }),
                owners: $0.owners)
        }
        if json {
            try Output.json(views)
            return
        }
        for view in views {
            Output.line(
                "Lot \(view.vendor)/\(view.lot): \(view.devices) device(s), since \(ISO8601DateFormatter().string(from: view.createdAt))"
            )
            for state in DeviceState.allCases where view.states[state.rawValue] != nil {
                Output.line(
                    "  " + state.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)
                        + "\(view.states[state.rawValue]!)")
            }
            if !view.owners.isEmpty { Output.line("  owners        \(view.owners.joined(separator: ", "))") }
        }
    }
}
