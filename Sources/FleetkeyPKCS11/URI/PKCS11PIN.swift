import FleetkeyCore
import Foundation

/// A token's user PIN, held only as long as the keys that need it.
///
/// It prints as `<PIN redacted>` however it is printed or dumped, is not `Codable`, is handed to the token only
/// inside C_Login, and its bytes are overwritten when the last reference goes away. The PIN comes from the URI's `pin-source` file (RFC 7512 §2.3) or from the
/// FLEETKEY_PKCS11_PIN environment variable, never from a command-line argument.
package final class PKCS11PIN: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    // Written only by init and deinit, so sharing it between threads is safe.
    nonisolated(unsafe) private(set) var bytes: [UInt8]

    /// The environment variable Fleetkey reads the PIN from.
    package static let environmentVariable = "FLEETKEY_PKCS11_PIN"

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    deinit {
        for index in bytes.indices { bytes[index] = 0 }
    }

    package var description: String { "<PIN redacted>" }
    package var debugDescription: String { description }
    package var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }

    /// The PIN for a URI: its `pin-source` file when it names one, else FLEETKEY_PKCS11_PIN.
    package static func resolve(for uri: PKCS11URI, environment: [String: String]) throws -> PKCS11PIN {
        if let source = uri.pinSource {
            return try read(source)
        }
        guard let value = environment[environmentVariable] else {
            throw FleetkeyError(
                .keyAccessDenied,
                "no PIN for the PKCS#11 token: set \(environmentVariable), or add pin-source=file:/path/to/pin to the "
                    + "URI (a file of mode 0600 holding the PIN). Fleetkey never takes a PIN on the command line")
        }
        guard !value.isEmpty else {
            throw FleetkeyError(.keyAccessDenied, "\(environmentVariable) is set but empty")
        }
        return PKCS11PIN(bytes: Array(value.utf8))
    }

    /// Reads a `pin-source`: a `file:` URI or an absolute path, to a file only its owner can read.
    static func read(_ source: String) throws -> PKCS11PIN {
        let path: String
        if source.hasPrefix("file://") {
            path = String(source.dropFirst("file://".count))
        } else if source.hasPrefix("file:") {
            path = String(source.dropFirst("file:".count))
        } else {
            path = source
        }
        guard path.hasPrefix("/") else {
            throw FleetkeyError(
                .invalidArgument, "pin-source '\(source)' must be file:/absolute/path (or file:///absolute/path)")
        }
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw FleetkeyError(
                .keyAccessDenied, "pin-source file '\(path)' cannot be read: it does not exist or is not accessible")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            throw FleetkeyError(.keyAccessDenied, "pin-source '\(path)' is not a regular file")
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw FleetkeyError(
                .keyAccessDenied,
                "pin-source file '\(path)' can be read by other users (mode \(String(mode, radix: 8))); make it "
                    + "private with `chmod 600 \(path)`")
        }
        guard var bytes = FileManager.default.contents(atPath: path).map({ [UInt8]($0) }) else {
            throw FleetkeyError(.keyAccessDenied, "pin-source file '\(path)' cannot be read")
        }
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else {
            throw FleetkeyError(.keyAccessDenied, "pin-source file '\(path)' is empty")
        }
        return PKCS11PIN(bytes: bytes)
    }
}
