import Foundation
import SwiftASN1
import X509

/// A secure element's slot key as swift-certificates sees it: every signature is made inside the element.
///
/// Holding one of these does not keep a key alive: once the slot is zeroized, signing through it fails.
struct SecureElementSigningKey: CustomPrivateKey, CustomStringConvertible {
    let element: any SecureElement
    let slot: Int
    let publicKey: Certificate.PublicKey
    let keySpec: KeySpec

    init(element: any SecureElement, slot: Int, publicKey: Certificate.PublicKey) throws {
        self.element = element
        self.slot = slot
        self.publicKey = publicKey
        self.keySpec = try KeySpec(publicKey)
    }

    var defaultSignatureAlgorithm: Certificate.SignatureAlgorithm { keySpec.signatureAlgorithm }
    var supportedSignatureAlgorithms: [Certificate.SignatureAlgorithm] { [keySpec.signatureAlgorithm] }

    func signSynchronously(bytes: some DataProtocol, signatureAlgorithm: Certificate.SignatureAlgorithm) throws
        -> Certificate.Signature
    {
        try element.sign(Array(bytes), inSlot: slot, algorithm: signatureAlgorithm)
    }

    var description: String { "secure element '\(element.elementID)' slot \(slot) (\(keySpec))" }

    static var defaultPEMDiscriminator: String { "PRIVATE KEY" }

    /// A key inside a secure element has no serialisation: asking for one is an error, never a leak.
    func serialize(into coder: inout DER.Serializer) throws {
        throw FleetkeyError(
            .invalidArgument,
            "the key in slot \(slot) of secure element '\(element.elementID)' cannot leave the element")
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.element.elementID == rhs.element.elementID && lhs.slot == rhs.slot && lhs.publicKey == rhs.publicKey
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(element.elementID)
        hasher.combine(slot)
        hasher.combine(publicKey)
    }
}
