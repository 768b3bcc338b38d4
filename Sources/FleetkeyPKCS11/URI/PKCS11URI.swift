import CPKCS11
import FleetkeyCore

/// A PKCS#11 URI (RFC 7512): which module, which token and which object.
///
/// ```
/// pk11-URI  = "pkcs11:" pk11-path [ "?" pk11-query ]
/// pk11-path = [ pk11-path-attr *(";" pk11-path-attr) ]      token=, object=, id=, type=, serial=, slot-id= ...
/// pk11-query = [ pk11-query-attr *("&" pk11-query-attr) ]   module-path=, pin-source= ...
/// ```
/// Example: `pkcs11:token=fleet-ca;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so`.
///
/// Fleetkey loads the module the `module-path` query attribute names (§2.3), and takes the PIN from the
/// `pin-source` file or the FLEETKEY_PKCS11_PIN environment variable. It refuses `pin-value`: a PIN written in a URI
/// ends up in shell history, process listings and the registry, and Fleetkey records URIs as key locations.
/// Attribute values are percent-decoded (§2.3); ``description`` writes the canonical form Fleetkey records.
package struct PKCS11URI: Sendable, Hashable, CustomStringConvertible {
    /// The object classes `type=` names (§2.3).
    package enum ObjectType: String, Sendable, Hashable {
        case privateKey = "private"
        case publicKey = "public"
        case certificate = "cert"
        case secretKey = "secret-key"
        case data
    }

    package var token: String?
    package var manufacturer: String?
    package var model: String?
    package var serial: String?
    package var libraryManufacturer: String?
    package var libraryDescription: String?
    package var libraryVersion: String?
    package var slotDescription: String?
    package var slotManufacturer: String?
    package var slotID: UInt?
    package var object: String?
    package var id: [UInt8]?
    package var type: ObjectType?
    package var modulePath: String?
    package var pinSource: String?

    package init(
        token: String? = nil, serial: String? = nil, object: String? = nil, id: [UInt8]? = nil, type: ObjectType? = nil,
        modulePath: String? = nil, pinSource: String? = nil
    ) {
        self.token = token
        self.serial = serial
        self.object = object
        self.id = id
        self.type = type
        self.modulePath = modulePath
        self.pinSource = pinSource
    }

    /// Whether `text` is meant as a PKCS#11 URI (the scheme is case-insensitive, RFC 3986 §3.1).
    package static func isPKCS11URI(_ text: String) -> Bool {
        text.lowercased().hasPrefix("pkcs11:")
    }

    /// Parses a URI. Errors name the attribute and the rule, and never repeat a `pin-value`.
    package init(parsing text: String) throws {
        guard Self.isPKCS11URI(text) else {
            throw FleetkeyError(
                .invalidArgument,
                "a PKCS#11 key must be given as a pkcs11: URI (RFC 7512), such as "
                    + "pkcs11:token=fleet-ca;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so")
        }
        let body = text.dropFirst("pkcs11:".count)
        let parts = body.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts[0]
        let query = parts.count > 1 ? parts[1] : ""
        if path.contains("#") || query.contains("#") {
            throw FleetkeyError(.invalidArgument, "PKCS#11 URI: a '#' must be percent-encoded as %23 (RFC 7512 §2.3)")
        }
        var seen = Set<String>()
        for attribute in path.split(separator: ";", omittingEmptySubsequences: false)
        where !(attribute.isEmpty && path.isEmpty) {
            let (name, raw) = try Self.split(attribute, part: "path")
            guard seen.insert(name).inserted else {
                throw FleetkeyError(
                    .invalidArgument, "PKCS#11 URI: path attribute '\(name)' appears more than once (RFC 7512 §2.3)")
            }
            try Self.checkCharacters(raw, name: name, allowed: Self.pathCharacters)
            let value = try Self.percentDecode(raw, name: name)
            switch name {
            case "token": token = try Self.text(value, name)
            case "manufacturer": manufacturer = try Self.text(value, name)
            case "model": model = try Self.text(value, name)
            case "serial": serial = try Self.text(value, name)
            case "library-manufacturer": libraryManufacturer = try Self.text(value, name)
            case "library-description": libraryDescription = try Self.text(value, name)
            case "library-version":
                let version = try Self.text(value, name)
                guard version.split(separator: ".", omittingEmptySubsequences: false).count <= 2,
                    version.split(separator: ".").allSatisfy({ UInt8($0) != nil })
                else {
                    throw FleetkeyError(
                        .invalidArgument, "PKCS#11 URI: library-version must be M or M.N (RFC 7512 §2.3)")
                }
                libraryVersion = version
            case "slot-description": slotDescription = try Self.text(value, name)
            case "slot-manufacturer": slotManufacturer = try Self.text(value, name)
            case "slot-id":
                guard let number = UInt(try Self.text(value, name)) else {
                    throw FleetkeyError(
                        .invalidArgument, "PKCS#11 URI: slot-id must be a decimal number (RFC 7512 §2.3)")
                }
                slotID = number
            case "object": object = try Self.text(value, name)
            case "id":
                guard !value.isEmpty else {
                    throw FleetkeyError(.invalidArgument, "PKCS#11 URI: id must not be empty")
                }
                id = value
            case "type":
                guard let type = ObjectType(rawValue: try Self.text(value, name)) else {
                    throw FleetkeyError(
                        .invalidArgument,
                        "PKCS#11 URI: type must be private, public, cert, secret-key or data (RFC 7512 §2.3)")
                }
                self.type = type
            default:
                throw FleetkeyError(
                    .invalidArgument,
                    "PKCS#11 URI: unknown path attribute '\(name)'; Fleetkey knows token, manufacturer, model, serial, "
                        + "library-manufacturer, library-description, library-version, slot-description, "
                        + "slot-manufacturer, slot-id, object, id and type (RFC 7512 §2.3)")
            }
        }
        seen.removeAll()
        for attribute in query.split(separator: "&", omittingEmptySubsequences: false) where !query.isEmpty {
            let (name, raw) = try Self.split(attribute, part: "query")
            guard seen.insert(name).inserted else {
                throw FleetkeyError(.invalidArgument, "PKCS#11 URI: query attribute '\(name)' appears more than once")
            }
            switch name {
            case "pin-value":
                throw FleetkeyError(
                    .invalidArgument,
                    "PKCS#11 URI: Fleetkey refuses pin-value, because a PIN in a URI leaks into shell history, process "
                        + "listings and the registry; put the PIN in FLEETKEY_PKCS11_PIN, or in a file named by "
                        + "pin-source=file:/path (mode 0600)")
            case "module-path":
                try Self.checkCharacters(raw, name: name, allowed: Self.queryCharacters)
                modulePath = try Self.text(try Self.percentDecode(raw, name: name), name)
            case "pin-source":
                try Self.checkCharacters(raw, name: name, allowed: Self.queryCharacters)
                pinSource = try Self.text(try Self.percentDecode(raw, name: name), name)
            case "module-name":
                throw FleetkeyError(
                    .invalidArgument,
                    "PKCS#11 URI: module-name is not supported; name the module file with module-path=/path/to/module.so"
                )
            default:
                throw FleetkeyError(
                    .invalidArgument,
                    "PKCS#11 URI: unknown query attribute '\(name)'; Fleetkey knows module-path and pin-source (RFC 7512 §2.3)"
                )
            }
        }
    }

    /// The canonical text: path attributes in RFC 7512's order, values percent-encoded where the grammar requires.
    package var description: String {
        var path: [String] = []
        func add(_ name: String, _ value: String?) {
            if let value {
                path.append("\(name)=\(Self.percentEncode(Array(value.utf8), allowed: Self.pathCharacters))")
            }
        }
        add("token", token)
        add("manufacturer", manufacturer)
        add("model", model)
        add("serial", serial)
        add("library-manufacturer", libraryManufacturer)
        add("library-description", libraryDescription)
        add("library-version", libraryVersion)
        add("slot-description", slotDescription)
        add("slot-manufacturer", slotManufacturer)
        add("slot-id", slotID.map(String.init))
        add("object", object)
        if let id { path.append("id=" + id.map { "%" + Self.hexByte($0) }.joined()) }
        add("type", type?.rawValue)
        var query: [String] = []
        if let modulePath {
            query.append("module-path=" + Self.percentEncode(Array(modulePath.utf8), allowed: Self.queryCharacters))
        }
        if let pinSource {
            query.append("pin-source=" + Self.percentEncode(Array(pinSource.utf8), allowed: Self.queryCharacters))
        }
        return "pkcs11:" + path.joined(separator: ";") + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// How errors name the token this URI selects.
    var tokenDescription: String {
        var parts: [String] = []
        if let token { parts.append("token=\(token)") }
        if let serial { parts.append("serial=\(serial)") }
        if let manufacturer { parts.append("manufacturer=\(manufacturer)") }
        if let model { parts.append("model=\(model)") }
        if let slotID { parts.append("slot-id=\(slotID)") }
        return parts.isEmpty ? "(any token)" : parts.joined(separator: ";")
    }

    /// How errors name the object this URI selects.
    var objectDescription: String {
        var parts: [String] = []
        if let object { parts.append("object=\(object)") }
        if let id { parts.append("id=\(Hex.lower(id))") }
        return parts.isEmpty ? "(no object named)" : parts.joined(separator: ";")
    }

    /// The URI without its object attributes: the token a key lives on.
    var tokenOnly: PKCS11URI {
        var copy = self
        copy.object = nil
        copy.id = nil
        copy.type = nil
        return copy
    }

    // MARK: Grammar (RFC 7512 §2.3)

    /// unreserved / pk11-res-avail, and '%' for pct-encoded.
    static let pathCharacters = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:[]@!$'()*+,=".utf8)
    /// unreserved / pk11-res-avail-query: also '/', '?' and '|'.
    static let queryCharacters = pathCharacters.union("/?|".utf8)

    private static func split(_ attribute: Substring, part: String) throws -> (String, Substring) {
        guard let equals = attribute.firstIndex(of: "="), equals != attribute.startIndex else {
            throw FleetkeyError(
                .invalidArgument,
                "PKCS#11 URI: each \(part) attribute must be name=value (RFC 7512 §2.3), not '\(attribute.prefix(40))'")
        }
        return (String(attribute[..<equals]), attribute[attribute.index(after: equals)...])
    }

    private static func checkCharacters(_ raw: Substring, name: String, allowed: Set<UInt8>) throws {
        for byte in raw.utf8 where byte != UInt8(ascii: "%") && !allowed.contains(byte) {
            throw FleetkeyError(
                .invalidArgument,
                "PKCS#11 URI: the value of '\(name)' contains '\(Character(Unicode.Scalar(byte)))', which must be "
                    + "percent-encoded (RFC 7512 §2.3)")
        }
    }

    static func percentDecode(_ raw: Substring, name: String) throws -> [UInt8] {
        var out: [UInt8] = []
        var bytes = raw.utf8.makeIterator()
        while let byte = bytes.next() {
            guard byte == UInt8(ascii: "%") else {
                out.append(byte)
                continue
            }
            guard let high = bytes.next(), let low = bytes.next(),
                let value = Hex.decode(String(decoding: [high, low], as: UTF8.self)),
                value.count == 1
            else {
                throw FleetkeyError(.invalidArgument, "PKCS#11 URI: bad percent-encoding in the value of '\(name)'")
            }
            out.append(value[0])
        }
        return out
    }

    private static func text(_ bytes: [UInt8], _ name: String) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FleetkeyError(.invalidArgument, "PKCS#11 URI: the value of '\(name)' is not UTF-8 text")
        }
        return text
    }

    static func percentEncode(_ bytes: [UInt8], allowed: Set<UInt8>) -> String {
        var out = ""
        for byte in bytes {
            if allowed.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + hexByte(byte)
            }
        }
        return out
    }

    private static func hexByte(_ byte: UInt8) -> String { Hex.upper([byte]) }
}
