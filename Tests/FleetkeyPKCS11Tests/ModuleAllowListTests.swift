import FleetkeyCore
import Foundation
import Testing

@testable import FleetkeyPKCS11

/// Only listed PKCS#11 modules are loaded, compared by real path, against the real SoftHSM2 module.
@Suite("PKCS#11 module allow-list")
struct ModuleAllowListTests {
    /// A scratch directory with a copy of the SoftHSM2 module (a different file, as an attacker's would be) and
    /// symbolic links to the real one and to the copy.
    final class Files {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetkey-p11-allow-\(UUID().uuidString)")
        var copy: String { url.appendingPathComponent("evil.so").path }
        var linkToReal: String { url.appendingPathComponent("softhsm-link.so").path }
        var linkToCopy: String { url.appendingPathComponent("libsofthsm2.so").path }

        init() throws {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            // Debian's /usr/lib/softhsm/libsofthsm2.so is itself a link: copy the file it names.
            let real = URL(fileURLWithPath: SoftHSM.modulePath).resolvingSymlinksInPath().path
            try FileManager.default.copyItem(atPath: real, toPath: copy)
            try FileManager.default.createSymbolicLink(atPath: linkToReal, withDestinationPath: SoftHSM.modulePath)
            try FileManager.default.createSymbolicLink(atPath: linkToCopy, withDestinationPath: copy)
        }

        deinit { try? FileManager.default.removeItem(at: url) }
    }

    static func custody(module: String, allowed: [String]) throws -> PKCS11KeyCustody {
        try PKCS11KeyCustody(
            generatingIn: PKCS11URI(token: "custody", modulePath: module),
            allowedModules: PKCS11ModuleAllowList(allowed, remedy: "add it to the test's list"),
            environment: SoftHSM.environment())
    }

    @Test("a module outside the list is refused before it is loaded, with an error saying how to allow it")
    func unlisted() throws {
        try SoftHSM.ready()
        let files = try Files()
        for (module, allowed) in [
            (files.copy, [SoftHSM.modulePath]), (SoftHSM.modulePath, []), (SoftHSM.modulePath, ["/usr/lib/none.so"]),
        ] {
            let error = try #require(throws: FleetkeyError.self) {
                try Self.custody(module: module, allowed: allowed).preflight()
            }
            #expect(error.code == .custodyUnavailable)
            #expect(error.reason.contains("'\(module)'") && error.reason.contains("not in the list"), "\(error.reason)")
            #expect(error.reason.contains("To allow it, add it to the test's list"), "\(error.reason)")
        }
        // The copy was never loaded: the process has no mapping of it.
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        #expect(!maps.contains(files.copy))
    }

    @Test("a symbolic link cannot smuggle in another file; the listed module under another name is the same file")
    func realPaths() throws {
        try SoftHSM.ready()
        let files = try Files()
        // The URI names a link called libsofthsm2.so that points at the copy: refused, and the error says so.
        let smuggled = try #require(throws: FleetkeyError.self) {
            try Self.custody(module: files.linkToCopy, allowed: [SoftHSM.modulePath]).preflight()
        }
        #expect(smuggled.reason.contains("really \(files.copy)"), "\(smuggled.reason)")
        // The list names the link to the copy, the URI the real module: still two different files.
        #expect(throws: FleetkeyError.self) {
            try Self.custody(module: SoftHSM.modulePath, allowed: [files.linkToCopy]).preflight()
        }
        // The real module reached through a link, or through `..`, is the listed file: it loads and the token answers.
        try Self.custody(module: files.linkToReal, allowed: [SoftHSM.modulePath]).preflight()
        try Self.custody(module: "/usr/lib/softhsm/../softhsm/libsofthsm2.so", allowed: [SoftHSM.modulePath])
            .preflight()
        try Self.custody(module: SoftHSM.modulePath, allowed: [files.linkToReal]).preflight()
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        #expect(!maps.contains(files.copy))
    }

    @Test("the list parses like PATH and ignores entries that are not there")
    func parsing() {
        #expect(PKCS11ModuleAllowList.parsing(colonSeparated: "/a.so::/b.so:") == ["/a.so", "/b.so"])
        #expect(PKCS11ModuleAllowList.parsing(colonSeparated: nil) == [])
        let list = PKCS11ModuleAllowList(["/nowhere/missing.so", "/nowhere/missing.so", ""])
        #expect(list.modules == ["/nowhere/missing.so"])
        #expect(throws: FleetkeyError.self) { try list.admit("/nowhere/missing.so") }
        #expect(throws: FleetkeyError(.invalidArgument, "")) { try list.admit("relative/module.so") }
    }
}
