import Foundation

/// A named set of devices with attributes (`site=berlin`, `tier=gateway`): what access-control rules name.
///
/// Membership is by selectors (a vendor, a lot, one device), kept as given, so a device of the lot that arrives in
/// a later manifest is a member too. A device's attributes are the union of its groups'; where two of its groups
/// give one attribute different values, the device has both.
public struct DeviceGroup: Sendable, Hashable {
    public var name: String
    public var attributes: [String: String]
    public var selectors: [GroupSelector]
    public var createdAt: Date

    public init(name: String, attributes: [String: String], selectors: [GroupSelector], createdAt: Date) {
        self.name = name
        self.attributes = attributes
        self.selectors = selectors
        self.createdAt = createdAt
    }

    /// Whether `device` is a member.
    public func contains(_ device: DeviceRecord) -> Bool {
        selectors.contains { $0.matches(device) }
    }

    /// Group names: 1-64 of letters, digits, `-`, `.` and `_`; they appear in policies, events and URLs.
    public static func checkName(_ name: String) throws(FleetkeyError) {
        guard NameRule.admits(name, allowed: nameCharacters, maximumLength: 64) else {
            throw FleetkeyError(
                .invalidArgument,
                "group name \(NameRule.quoted(name)) is invalid: use 1-64 letters, digits, '-', '.' or '_', without '..'"
            )
        }
    }

    /// An attribute as given on the command line, `KEY=VALUE`: the key 1-64 of lower-case letters, digits, `-`, `.`
    /// and `_`, the value 1-256 printable ASCII characters.
    public static func attribute(parsing text: String) throws(FleetkeyError) -> (key: String, value: String) {
        guard let equals = text.firstIndex(of: "=") else {
            throw FleetkeyError(.invalidArgument, "attribute \(NameRule.quoted(text)) must be KEY=VALUE")
        }
        let key = String(text[..<equals])
        let value = String(text[text.index(after: equals)...])
        guard NameRule.admits(key, allowed: keyCharacters, maximumLength: 64) else {
            throw FleetkeyError(
                .invalidArgument,
                "attribute key \(NameRule.quoted(key)) is invalid: use 1-64 lower-case letters, digits, '-', '.' or '_'"
            )
        }
        guard (1...256).contains(value.utf8.count), value.utf8.allSatisfy({ (0x20..<0x7F).contains($0) }) else {
            throw FleetkeyError(
                .invalidArgument,
                "the value of attribute '\(key)' must be 1-256 printable ASCII characters, not \(NameRule.quoted(value))"
            )
        }
        return (key, value)
    }

    static let nameCharacters = Set((NameRule.letters + "-._").utf8)
    static let keyCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-._".utf8)
}

/// Which devices a group takes in.
public enum GroupSelector: Sendable, Hashable, CustomStringConvertible {
    /// Every device of a vendor.
    case vendor(VendorName)
    /// Every device of a lot; of one vendor, or of any vendor with that lot name.
    case lot(vendor: VendorName?, name: String)
    /// One device; with `vendor` nil, the device with that serial whatever its vendor.
    case device(vendor: VendorName?, serial: DeviceSerial)

    public func matches(_ device: DeviceRecord) -> Bool {
        matches(id: device.id, lot: device.lot)
    }

    /// Whether the device `id`, of lot `lot`, is selected.
    public func matches(id: DeviceID, lot: String?) -> Bool {
        switch self {
        case .vendor(let vendor): id.vendor == vendor
        case .lot(let vendor, let name): lot == name && (vendor == nil || vendor == id.vendor)
        case .device(let vendor, let serial): id.serial == serial && (vendor == nil || vendor == id.vendor)
        }
    }

    /// The stored and printed kind: `vendor`, `lot` or `serial`.
    public var kind: String {
        switch self {
        case .vendor: "vendor"
        case .lot: "lot"
        case .device: "serial"
        }
    }

    /// The selector's vendor, if it names one.
    public var vendor: VendorName? {
        switch self {
        case .vendor(let vendor): vendor
        case .lot(let vendor, _), .device(let vendor, _): vendor
        }
    }

    /// The lot name or device serial; `nil` for a vendor selector.
    public var value: String? {
        switch self {
        case .vendor: nil
        case .lot(_, let name): name
        case .device(_, let serial): serial.value
        }
    }

    /// Reads a stored selector back; a kind Fleetkey does not write is an error, never a guess.
    public init(kind: String, vendor: String?, value: String?) throws(FleetkeyError) {
        do {
            let vendorName = try vendor.map { try VendorName($0) }
            switch (kind, vendorName, value) {
            case ("vendor", .some(let vendor), nil): self = .vendor(vendor)
            case ("lot", _, .some(let lot)): self = .lot(vendor: vendorName, name: lot)
            case ("serial", _, .some(let serial)): self = .device(vendor: vendorName, serial: try DeviceSerial(serial))
            default: throw FleetkeyError(.storage, "")
            }
        } catch {
            throw FleetkeyError(
                .storage,
                "group selector kind '\(kind.prefix(40))' (vendor \(vendor ?? "none"), value \(value ?? "none")) is not "
                    + "one Fleetkey writes (vendor, lot, serial); the registry may be damaged or written by a newer "
                    + "Fleetkey")
        }
    }

    public var description: String {
        switch self {
        case .vendor(let vendor): "vendor \(vendor)"
        case .lot(let vendor, let name): "lot \(vendor.map { "\($0)/" } ?? "")\(name)"
        case .device(let vendor, let serial): "device \(vendor.map { "\($0)/" } ?? "")\(serial)"
        }
    }
}
