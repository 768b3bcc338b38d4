import FleetkeyCore
import Foundation

/// The on-disk state of one emulated secure element: `<directory>/<elementID>.se.json`.
///
/// EMULATOR ONLY: this file holds the element's private keys (attestation key and slot keys) in the clear, base64
/// of their raw scalars, because a file is the emulator's silicon. It is written with mode 0600 and never printed,
/// but anyone who can read it can sign as the element and forge its attestations. Use the emulator for demos and
/// for simulating large fleets; real devices use a real secure element, and CA keys a PKCS#11 token.
struct EmulatedElementFile: Codable {
    static let formatName = "fleetkey-secure-element-emulator/1"

    struct Slot: Codable {
        var configuration: SecureElementSlotConfiguration
        var keyState: SecureElementKeyState
        var locked: Bool
        /// Raw private scalar (P-256/P-384 `rawRepresentation`), base64; absent when empty or zeroized.
        var privateKey: String?
        /// DER SubjectPublicKeyInfo, base64.
        var publicKey: String?
        /// DER certificate, base64.
        var certificate: String?
    }

    var format: String
    var elementID: String
    /// Raw P-256 private scalar of the attestation key, base64.
    var attestationKey: String
    var slots: [Slot]
    var createdAt: Date
}
