import FleetkeyCore
import FleetkeyCustody
import FleetkeyPKCS11
import Foundation

/// Where the secure elements of a vendor's devices are, as `--element` names them: `emulator` (files in
/// DIR/elements/<vendor-ca>), `emulator:PATH`, or a `pkcs11:` token URI (RFC 7512) holding every element.
enum ElementSourceOption {
    static let help =
        "The secure elements: emulator (files in DIR/elements/<vendor-ca>), emulator:PATH, or "
        + "pkcs11:token=LABEL?module-path=..."

    static func source(_ element: String, directory: EcosystemDirectory, vendor: VendorName) throws
        -> any SecureElementSource
    {
        if element == "emulator" {
            return EmulatedElementSource(
                directory: directory.url.appendingPathComponent("elements").appendingPathComponent(vendor.authorityID))
        }
        if element.hasPrefix("emulator:") {
            return EmulatedElementSource(
                directory: URL(fileURLWithPath: String(element.dropFirst("emulator:".count)), isDirectory: true))
        }
        if PKCS11URI.isPKCS11URI(element) {
            // The module named on the command line is allowed for this run, beside the ecosystem's list.
            let token = try PKCS11URI(parsing: element)
            let allowed = PKCS11Modules.allowList(
                for: directory, configured: try directory.configuration().pkcs11Modules)
            return PKCS11ElementSource(
                token: token, allowedModules: allowed.adding(token.modulePath.map { [$0] } ?? []))
        }
        throw FleetkeyError(
            .invalidArgument, "--element '\(element)' must be emulator, emulator:PATH or a pkcs11: URI (RFC 7512)")
    }
}
