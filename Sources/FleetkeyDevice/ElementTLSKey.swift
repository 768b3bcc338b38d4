import FleetkeyCore
import NIOCore
import NIOSSL
import X509

/// A TLS client key that lives in a secure element: swift-nio-ssl's custom private key hook hands each handshake
/// signature (the TLS 1.3 CertificateVerify, RFC 8446 §4.4.3, or TLS 1.2's) to the element, so the key never enters
/// the client's memory.
struct ElementTLSKey: NIOSSLCustomPrivateKey, Hashable {
    let element: any SecureElement
    let slot: Int
    let keySpec: KeySpec

    init(element: any SecureElement, slot: Int) throws {
        self.element = element
        self.slot = slot
        self.keySpec = try KeySpec(try element.publicKey(inSlot: slot))
        guard [.p256, .p384].contains(keySpec) else {
            throw FleetkeyError(
                .algorithmNotAllowed,
                "slot \(slot) of element \(element.elementID) holds \(keySpec), not ECDSA P-256/P-384")
        }
    }

    var signatureAlgorithms: [SignatureAlgorithm] {
        keySpec == .p384 ? [.ecdsaSecp384R1Sha384] : [.ecdsaSecp256R1Sha256]
    }

    /// Signs inside the element; BoringSSL expects the DER ECDSA-Sig-Value the element returns.
    func sign(channel: any Channel, algorithm: SignatureAlgorithm, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        let hash: Certificate.SignatureAlgorithm
        switch algorithm {
        case .ecdsaSecp256R1Sha256: hash = .ecdsaWithSHA256
        case .ecdsaSecp384R1Sha384: hash = .ecdsaWithSHA384
        default:
            return channel.eventLoop.makeFailedFuture(
                FleetkeyError(.algorithmNotAllowed, "the TLS peer asked for \(algorithm), which the element cannot do"))
        }
        do {
            let signature = try element.sign(Array(data.readableBytesView), inSlot: slot, algorithm: hash)
            return channel.eventLoop.makeSucceededFuture(ByteBuffer(bytes: signature.rawRepresentation))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    func decrypt(channel: any Channel, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        channel.eventLoop.makeFailedFuture(
            FleetkeyError(.algorithmNotAllowed, "an element's ECDSA key does not decrypt (no RSA key exchange)"))
    }

    static func == (lhs: ElementTLSKey, rhs: ElementTLSKey) -> Bool {
        lhs.element.elementID == rhs.element.elementID && lhs.slot == rhs.slot
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(element.elementID)
        hasher.combine(slot)
    }
}
