/// A vendor's name as it appears in `O=` of every certificate under its issuing CA.
///
/// Restricted to a conservative character set so it is a valid X.520 value, a safe file name and a
/// readable slug at the same time.
public struct VendorName: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let value: String

    private static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -._".utf8)

    public init(_ value: String) throws {
        guard (1...64).contains(value.utf8.count), value.utf8.allSatisfy(Self.allowed.contains),
            value.first != " ", value.last != " "
        else {
            throw FleetkeyError(
                .invalidArgument,
                "vendor name '\(value)' is invalid: use 1-64 letters, digits, spaces, '-', '.' or '_', "
                    + "not starting or ending with a space"
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
