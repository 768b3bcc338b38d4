import Crypto
import FleetkeyCore
import Foundation
import SwiftASN1
import Synchronization
import X509
import _CryptoExtras

/// The embedded default key custody: private keys encrypted at rest in a directory, one file per key.
///
/// Keys are generated in process and written only sealed (``KeystoreFile``); the plaintext never touches the
/// disk. A key unlocked once stays in memory for the life of this object, so a long-running process pays the
/// scrypt cost once per key. Errors name the key and the cause, never the passphrase or key bytes.
package final class SoftwareKeystore: KeyCustody {
    package let directory: URL
    package let cost: ScryptCost
    package var kind: KeyCustodyKind { .softwareKeystore }
    private let passphrase: Passphrase
    private let unlocked = Mutex<[String: Certificate.PrivateKey]>([:])

    package static let referencePrefix = "keystore:"

    package init(directory: URL, passphrase: Passphrase, cost: ScryptCost = .standard) throws {
        do {
            try cost.check(source: "the keystore's scrypt cost (fleetkey.json scryptLog2N, init --kdf-log2n)")
        } catch {
            throw FleetkeyError(.configuration, error.reason)
        }
        guard !passphrase.isEmpty else {
            throw FleetkeyError(
                .keyAccessDenied, "the keystore passphrase is empty; set FLEETKEY_PASSPHRASE or type one")
        }
        self.directory = directory
        self.passphrase = passphrase
        self.cost = cost
    }

    // MARK: KeyCustody

    package func generateKey(_ spec: KeySpec, label: String) async throws -> CustodiedKey {
        try Self.checkLabel(label)
        let (privateKey, secret) = try Self.makePrivateKey(spec)
        let publicKey = privateKey.publicKey
        let spki = Data(publicKey.subjectPublicKeyInfoDER).base64EncodedString()
        let salt = Data(SystemRandomSource().bytes(count: 16))
        var file = KeystoreFile(
            format: KeystoreFile.formatName, label: label, algorithm: spec.description, publicKey: spki,
            kdf: .init(name: "scrypt", log2N: cost.log2N, r: cost.r, p: cost.p, salt: salt.base64EncodedString()),
            cipher: .init(name: "aes-256-gcm", nonce: "", sealed: ""), createdAt: Date())
        let wrappingKey = try deriveKey(file.kdf, salt: salt)
        let box = try AES.GCM.seal(secret, using: wrappingKey, authenticating: file.associatedData)
        file.cipher.nonce = Data(box.nonce).base64EncodedString()
        file.cipher.sealed = (box.ciphertext + box.tag).base64EncodedString()

        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try KeyFileWriter.create(try encoder.encode(file), at: fileURL(label), label: label)
        let reference = Self.referencePrefix + label
        unlocked.withLock { $0[reference] = privateKey }
        return CustodiedKey(reference: reference, publicKey: publicKey, spec: spec)
    }

    package func signingKey(_ reference: String) async throws -> Certificate.PrivateKey {
        if let key = unlocked.withLock({ $0[reference] }) { return key }
        let label = try Self.label(of: reference)
        let file = try readFile(label)
        guard file.format == KeystoreFile.formatName, file.kdf.name == "scrypt", file.cipher.name == "aes-256-gcm",
            let salt = Data(base64Encoded: file.kdf.salt), let nonceBytes = Data(base64Encoded: file.cipher.nonce),
            let sealed = Data(base64Encoded: file.cipher.sealed), sealed.count > 16
        else {
            throw FleetkeyError(.keyAccessDenied, "keystore file for '\(label)' is damaged or of an unknown format")
        }
        // Before scrypt runs: the file chooses the cost, and a crafted one could ask for gigabytes (ScryptCost).
        try ScryptCost(log2N: file.kdf.log2N, r: file.kdf.r, p: file.kdf.p).check(
            source: "keystore file \(fileURL(label).path)")
        let wrappingKey = try deriveKey(file.kdf, salt: salt)
        let secret: Data
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonceBytes), ciphertext: sealed.dropLast(16), tag: sealed.suffix(16))
            secret = try AES.GCM.open(box, using: wrappingKey, authenticating: file.associatedData)
        } catch {
            throw FleetkeyError(
                .keyAccessDenied,
                "cannot unlock key '\(label)': wrong passphrase (check FLEETKEY_PASSPHRASE), or its key file was altered"
            )
        }
        let spec = try KeySpec(policyName: file.algorithm)
        let key = try Self.privateKey(secret, spec: spec, label: label)
        guard Data(key.publicKey.subjectPublicKeyInfoDER).base64EncodedString() == file.publicKey else {
            throw FleetkeyError(.keyAccessDenied, "key '\(label)' does not match the public key recorded in its file")
        }
        unlocked.withLock { $0[reference] = key }
        return key
    }

    package func destroyKey(_ reference: String) async throws {
        let label = try Self.label(of: reference)
        let url = fileURL(label)
        unlocked.withLock { _ = $0.removeValue(forKey: reference) }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FleetkeyError(.notFound, "no key '\(label)' in the keystore")
        }
        // Overwrite before unlinking so the sealed bytes do not linger in the freed blocks of simple filesystems.
        if let size = try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int {
            try Data(count: size).write(to: url)
        }
        try FileManager.default.removeItem(at: url)
    }

    /// The public key of a stored key, readable without the passphrase.
    package func publicKey(_ reference: String) throws -> Certificate.PublicKey {
        let file = try readFile(try Self.label(of: reference))
        guard let spki = Data(base64Encoded: file.publicKey) else {
            throw FleetkeyError(.keyAccessDenied, "keystore file for '\(file.label)' has no readable public key")
        }
        return try Certificate.PublicKey(derEncoded: Array(spki))
    }

    // MARK: Internals

    func fileURL(_ label: String) -> URL {
        directory.appendingPathComponent("\(label).key.json")
    }

    private func readFile(_ label: String) throws -> KeystoreFile {
        let url = fileURL(label)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw FleetkeyError(.notFound, "no key '\(label)' in the keystore at \(directory.path)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(KeystoreFile.self, from: data)
        } catch {
            throw FleetkeyError(
                .keyAccessDenied, "keystore file for '\(label)' is damaged: it is not valid keystore JSON")
        }
    }

    private func deriveKey(_ kdf: KeystoreFile.KDF, salt: Data) throws -> SymmetricKey {
        let cost = ScryptCost(log2N: kdf.log2N, r: kdf.r, p: kdf.p)
        return try passphrase.withBytes { bytes in
            try KDF.Scrypt.deriveKey(
                from: bytes, salt: salt, outputByteCount: 32, rounds: 1 << kdf.log2N, blockSize: kdf.r,
                parallelism: kdf.p, maxMemory: cost.memoryBytes)
        }
    }

    static func checkLabel(_ label: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-._")
        guard (1...100).contains(label.count), label.allSatisfy(allowed.contains), !label.hasPrefix(".") else {
            throw FleetkeyError(
                .invalidArgument, "key label '\(label)' must be 1-100 lower-case letters, digits, '-', '.' or '_'")
        }
    }

    static func label(of reference: String) throws -> String {
        guard reference.hasPrefix(referencePrefix) else {
            throw FleetkeyError(
                .invalidArgument, "'\(reference)' is not a software keystore reference (keystore:<label>)")
        }
        let label = String(reference.dropFirst(referencePrefix.count))
        try checkLabel(label)
        return label
    }

    /// A new private key and the bytes sealed for it: PKCS#8 DER for EC and Ed25519 keys, PKCS#1 DER for RSA.
    static func makePrivateKey(_ spec: KeySpec) throws -> (Certificate.PrivateKey, Data) {
        switch spec.family {
        case .ecdsaP256:
            let key = P256.Signing.PrivateKey()
            return (Certificate.PrivateKey(key), key.derRepresentation)
        case .ecdsaP384:
            let key = P384.Signing.PrivateKey()
            return (Certificate.PrivateKey(key), key.derRepresentation)
        case .ecdsaP521:
            let key = P521.Signing.PrivateKey()
            return (Certificate.PrivateKey(key), key.derRepresentation)
        case .ed25519:
            let key = Curve25519.Signing.PrivateKey()
            return (Certificate.PrivateKey(key), Data(try Certificate.PrivateKey(key).serializeAsPEM().derBytes))
        case .rsa:
            guard [2048, 3072, 4096].contains(spec.bits) else {
                throw FleetkeyError(
                    .invalidArgument, "RSA keys are generated at 2048, 3072 or 4096 bits, not \(spec.bits)")
            }
            let key = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: spec.bits))
            return (Certificate.PrivateKey(key), key.derRepresentation)
        }
    }

    static func privateKey(_ secret: Data, spec: KeySpec, label: String) throws -> Certificate.PrivateKey {
        do {
            if spec.family == .rsa {
                return Certificate.PrivateKey(try _RSA.Signing.PrivateKey(derRepresentation: secret))
            }
            return try Certificate.PrivateKey(derBytes: Array(secret))
        } catch {
            throw FleetkeyError(.keyAccessDenied, "key '\(label)' decrypted but is not a valid \(spec) private key")
        }
    }
}
