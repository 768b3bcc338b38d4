/// The character sets of the names people choose: vendors, owners and lots.
///
/// Each is a short list of printable ASCII characters, so a name is at once a valid X.520 value, a safe file
/// name and a safe path segment, and reads the same everywhere it is printed. None holds a `/` (it separates
/// `VENDOR/LOT` and path steps), a `..` (a path step up), a control character or a bidirectional-formatting
/// character such as U+202E RIGHT-TO-LEFT OVERRIDE (which make a name display as another, Unicode TR #36 §2.3).
enum NameRule {
    static let letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    /// Whether `value` is 1...`maximumLength` bytes of `allowed`, with no `..`.
    static func admits(_ value: String, allowed: Set<UInt8>, maximumLength: Int) -> Bool {
        (1...maximumLength).contains(value.utf8.count) && value.utf8.allSatisfy(allowed.contains)
            && !value.contains("..")
    }

    /// `value` as an error message can show it: escaped, so a control or bidi character cannot rewrite the line.
    static func quoted(_ value: String) -> String {
        let shown = value.unicodeScalars.map { scalar in
            scalar.isASCII && scalar.value >= 0x20 && scalar.value < 0x7F
                ? String(scalar) : scalar.escaped(asASCII: true)
        }.joined()
        return "'" + (shown.count > 80 ? shown.prefix(80) + "…" : shown) + "'"
    }
}

/// A vendor's name as it appears in `O=` of every certificate under its issuing CA.
///
/// 1-64 ASCII letters, digits, spaces, `-`, `.` and `_`, not starting or ending with a space and without `..`
/// (``NameRule``): a valid X.520 value, a safe file name and a readable slug at the same time. Owner names follow
/// the same rule (``OwnerName``).
public struct VendorName: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let value: String

    static let allowed = Set((NameRule.letters + " -._").utf8)

    public init(_ value: String) throws {
        guard NameRule.admits(value, allowed: Self.allowed, maximumLength: 64), value.first != " ", value.last != " "
        else {
            throw FleetkeyError(
                .invalidArgument,
                "vendor name \(NameRule.quoted(value)) is invalid: use 1-64 letters, digits, spaces, '-', '.' or '_', "
                    + "not starting or ending with a space, without '..'"
            )
        }
        self.value = value
    }

    /// The lower-case, dash-separated form used in authority identifiers, URLs and file names.
    public var slug: String {
        String(value.lowercased().map { $0 == " " ? "-" : $0 })
    }

    /// The identifier of this vendor's issuing CA (`vendor-<slug>`), used in URLs and the registry.
    public var authorityID: String { "vendor-" + slug }

    public var description: String { value }
    public static func < (lhs: VendorName, rhs: VendorName) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        try self.init(decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// A device serial number: the subject `serialNumber` (X.520, a PrintableString) of its identity certificate.
public struct DeviceSerial: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let value: String

    private static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:".utf8)

    public init(_ value: String) throws {
        guard (1...64).contains(value.utf8.count), value.utf8.allSatisfy(Self.allowed.contains) else {
            throw FleetkeyError(
                .subjectRejected,
                "device serial '\(value)' is invalid: subject serialNumber must be 1-64 characters of "
                    + "letters, digits, '-', '.' or ':' (a PrintableString, X.520)"
            )
        }
        self.value = value
    }

    public var description: String { value }
    public static func < (lhs: DeviceSerial, rhs: DeviceSerial) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        try self.init(decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// A device's identity in the registry: its vendor and its serial, unique together.
public struct DeviceID: Hashable, Sendable, Codable, CustomStringConvertible {
    public var vendor: VendorName
    public var serial: DeviceSerial

    public init(vendor: VendorName, serial: DeviceSerial) {
        self.vendor = vendor
        self.serial = serial
    }

    public var description: String { "\(vendor.value)/\(serial.value)" }
}

/// The name of a device owner (`fleetkey owner init --name`, `owner add`, a manifest's `buyer`).
///
/// The vendor rule (``VendorName``): 1-64 ASCII letters, digits, spaces, `-`, `.` and `_`, not starting or ending
/// with a space, without `..`.
public struct OwnerName: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init(_ value: String) throws {
        guard NameRule.admits(value, allowed: VendorName.allowed, maximumLength: 64), value.first != " ",
            value.last != " "
        else {
            throw FleetkeyError(
                .invalidArgument,
                "owner name \(NameRule.quoted(value)) is invalid: use 1-64 letters, digits, spaces, '-', '.' or '_', "
                    + "not starting or ending with a space, without '..'")
        }
        self.value = value
    }

    public var description: String { value }
}

/// The name of a production lot (`issue --lot`, `factory provision --lot`, `revoke --lot`, a manifest's `lot`).
///
/// 1-64 ASCII letters, digits, `-`, `.` and `_`, not starting with `.` and without `..` (``NameRule``): a lot names
/// device serials and secure elements on the factory line, follows a `/` in `revoke --lot VENDOR/LOT`, and is
/// printed in reports, so it holds no `/`, space, control or bidirectional-formatting character. The factory line
/// takes at most ``FactoryLine/maximumLotLength`` characters, as its lots prefix device serials.
public struct LotName: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public static let maximumLength = 64
    static let allowed = Set((NameRule.letters + "-._").utf8)

    /// - Parameter field: how the caller's user knows the value (`--lot`, `the manifest's lot`), for the error.
    public init(_ value: String, field: String = "lot") throws(FleetkeyError) {
        guard NameRule.admits(value, allowed: Self.allowed, maximumLength: Self.maximumLength), !value.hasPrefix(".")
        else {
            throw FleetkeyError(
                .invalidArgument,
                "\(field) \(NameRule.quoted(value)) is not a lot name: use 1-\(Self.maximumLength) letters, digits, "
                    + "'-', '.' or '_', not starting with '.', without '..'")
        }
        self.value = value
    }

    public var description: String { value }
}
