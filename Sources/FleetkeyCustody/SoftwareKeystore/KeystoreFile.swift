import Foundation

/// The on-disk form of one key in the software keystore (`keys/<label>.key.json`).
///
/// The private key is sealed with AES-256-GCM under a key derived from the passphrase with scrypt and a
/// per-file salt. The label, algorithm and public key are bound as additional authenticated data, so a file
/// whose metadata was swapped or edited fails to open rather than misleading the signer.
struct KeystoreFile: Codable {
    static let formatName = "fleetkey-keystore-v1"

    var format: String
    var label: String
    var algorithm: String
    /// DER SubjectPublicKeyInfo, base64: readable without the passphrase.
    var publicKey: String
    var kdf: KDF
    var cipher: Cipher
    var createdAt: Date

    struct KDF: Codable {
        var name: String
        var log2N: Int
        var r: Int
        var p: Int
        var salt: String
    }

    struct Cipher: Codable {
        var name: String
        var nonce: String
        /// Ciphertext followed by the 16-byte GCM tag, base64.
        var sealed: String
    }

    /// The additional authenticated data for the seal.
    var associatedData: Data {
        Data("\(format)|\(label)|\(algorithm)|\(publicKey)".utf8)
    }
}
