import CPKCS11
import FleetkeyCore
import Foundation
import SwiftASN1
import X509

/// A private key inside a PKCS#11 token, as swift-certificates' `CustomPrivateKey`, so the CA engine signs with it
/// through `Certificate.PrivateKey(custom)` without knowing where the key lives.
///
/// Every signature finds the key on the token again, hashes in the process, signs the digest with CKM_ECDSA in the
/// token, and checks the signature against the public key before handing it out: a key replaced or a token fault
/// fails closed instead of producing a certificate nobody can verify.
struct PKCS11SigningKey: CustomPrivateKey, CustomStringConvertible {
    let token: PKCS11Token
    let pin: PKCS11PIN
    /// The key's canonical URI, as recorded in the registry (it never carries a PIN).
    let uri: PKCS11URI
    let curve: ECCurve
    let publicKey: Certificate.PublicKey

    var defaultSignatureAlgorithm: Certificate.SignatureAlgorithm { curve.keySpec.signatureAlgorithm }
    var supportedSignatureAlgorithms: [Certificate.SignatureAlgorithm] {
        [.ecdsaWithSHA256, .ecdsaWithSHA384, .ecdsaWithSHA512]
    }

    func signSynchronously(bytes: some DataProtocol, signatureAlgorithm: Certificate.SignatureAlgorithm) throws
        -> Certificate.Signature
    {
        let message = Array(bytes)
        let digest = try ECDSASignature.digest(message, for: signatureAlgorithm)
        let raw = try token.withSession(pin: pin, "sign with key \(uri.objectDescription)") { session in
            guard let objects = try PKCS11KeyObjects.find(uri, in: session) else {
                throw FleetkeyError(
                    .custodyUnavailable,
                    "the key \(uri.objectDescription) is no longer on \(token.name): it was destroyed while Fleetkey "
                        + "was running. Nothing was signed")
            }
            return try session.sign(mechanism: CKM_ECDSA, key: objects.privateKey, data: digest)
        }
        let signature = try ECDSASignature.signature(raw: raw, curve: curve, algorithm: signatureAlgorithm)
        guard
            publicKey.isValidSignature(
                signature.rawRepresentation, for: message, signatureAlgorithm: signatureAlgorithm)
        else {
            throw FleetkeyError(
                .custodyUnavailable,
                "\(token.name) returned a signature that does not verify with the public key of \(uri.objectDescription): "
                    + "the key on the token was replaced, or the token is faulty. Nothing was signed")
        }
        return signature
    }

    var description: String { "PKCS#11 key \(uri)" }

    static var defaultPEMDiscriminator: String { "PRIVATE KEY" }

    /// A key in a token has no serialisation: asking for one is an error, never a leak.
    func serialize(into coder: inout DER.Serializer) throws {
        throw FleetkeyError(
            .invalidArgument, "the PKCS#11 key \(uri.objectDescription) is not extractable and cannot be serialised")
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.token === rhs.token && lhs.uri == rhs.uri && lhs.publicKey == rhs.publicKey
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(token))
        hasher.combine(uri)
        hasher.combine(publicKey)
    }
}
