import FleetkeyCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The PKCS#11 modules Fleetkey may load: loading a module runs its code inside the process that holds the keys.
///
/// A key's RFC 7512 URI names its module (`module-path`), and URIs are stored in the registry, so whoever can write a
/// registry row could otherwise have any shared object on the machine loaded by the next command that signs. So a
/// module is loaded only when its real path (symbolic links and `..` resolved, realpath(3)) is the real path of an
/// entry of this list: a symbolic link, or a path that goes through one, cannot smuggle in another file. An entry
/// that does not resolve (a module not installed) allows nothing.
///
/// The list is a value the caller builds from its configuration; `remedy` is the caller's advice on how to allow a
/// module, quoted in the refusal.
package struct PKCS11ModuleAllowList: Sendable, Hashable {
    /// The entries as configured, in order.
    package let modules: [String]
    /// What to tell the user who needs another module, e.g. which setting to change.
    package let remedy: String

    package init(_ modules: some Sequence<String>, remedy: String = "") {
        var seen = Set<String>()
        self.modules = modules.filter { !$0.isEmpty && seen.insert($0).inserted }
        self.remedy = remedy
    }

    /// The list a colon-separated variable such as FLEETKEY_PKCS11_MODULES names (like PATH; empty parts ignored).
    package static func parsing(colonSeparated text: String?) -> [String] {
        (text ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    /// This list and `other`'s entries.
    package func adding(_ other: some Sequence<String>) -> PKCS11ModuleAllowList {
        PKCS11ModuleAllowList(modules + other, remedy: remedy)
    }

    /// The real path to load for `path`, once it is found in the list; an error that says how to allow it otherwise.
    func admit(_ path: String) throws -> String {
        guard path.hasPrefix("/") else {
            throw FleetkeyError(
                .invalidArgument,
                "PKCS#11 module-path '\(path)' must be an absolute path (for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
            )
        }
        guard let real = Self.realPath(path) else {
            throw FleetkeyError(
                .custodyUnavailable,
                "PKCS#11 module '\(path)' does not exist: check the URI's module-path (for SoftHSM2 install the "
                    + "softhsm2 package, module /usr/lib/softhsm/libsofthsm2.so); nothing was signed")
        }
        guard modules.contains(where: { Self.realPath($0) == real }) else {
            let resolved = real == path ? "" : " (really \(real))"
            let allowed = modules.isEmpty ? "no module is allowed" : "allowed: \(modules.joined(separator: ", "))"
            throw FleetkeyError(
                .custodyUnavailable,
                "PKCS#11 module '\(path)'\(resolved) is not in the list of modules Fleetkey may load (\(allowed)); "
                    + "nothing was loaded or signed" + (remedy.isEmpty ? "" : ". To allow it, \(remedy)"))
        }
        return real
    }

    /// realpath(3): the absolute path with every symbolic link, `.` and `..` resolved, or `nil` if it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
