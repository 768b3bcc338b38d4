import Crypto
import FleetkeyCore
import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// A file-backed secure element, for the demo and for simulating large fleets quickly.
///
/// It behaves like ``FleetkeyPKCS11/PKCS11SecureElement`` (both apply ``SecureElementSlotRules`` and pass one
/// shared test suite): keys are generated inside and never exported through its API, locked slots refuse key
/// generation and certificate writes, attestations are signed with the element's own P-256 attestation key, and
/// zeroized keys are gone from memory and from the file.
///
/// EMULATOR ONLY: the element's state file holds its private keys (see ``EmulatedElementFile``). It is written with
/// mode 0600 and its contents never reach logs or errors, but its attestations prove only that the emulator made
/// the key. Operations on one element are serialised; every change is written to disk before it returns.
package final class SecureElementEmulator: SecureElement, @unchecked Sendable {
    // @unchecked: `state` and the key caches are only touched while `lock` is held.
    package let elementID: String
    package let fileURL: URL
    private let lock = NSLock()
    private var state: EmulatedElementFile

    private init(elementID: String, fileURL: URL, state: EmulatedElementFile) {
        self.elementID = elementID
        self.fileURL = fileURL
        self.state = state
    }

    /// The state file of element `elementID` under `directory`.
    package static func fileURL(in directory: URL, elementID: String) -> URL {
        directory.appendingPathComponent("\(elementID).se.json")
    }

    /// Makes a new element: its attestation key and empty slots, written to `directory`.
    package static func create(
        in directory: URL, elementID: String,
        slots: [SecureElementSlotConfiguration] = SecureElementSlotConfiguration.standardLayout
    ) throws -> SecureElementEmulator {
        try SecureElementSlotRules.checkConfiguration(slots, element: elementID)
        let url = fileURL(in: directory, elementID: elementID)
        guard !FileManager.default.fileExists(atPath: url.path) else {
            throw FleetkeyError(.alreadyExists, "secure element '\(elementID)' already exists in \(directory.path)")
        }
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let state = EmulatedElementFile(
            format: EmulatedElementFile.formatName, elementID: elementID,
            attestationKey: P256.Signing.PrivateKey().rawRepresentation.base64EncodedString(),
            slots: slots.sorted { $0.slot < $1.slot }.map {
                .init(
                    configuration: $0, keyState: .empty, locked: false, privateKey: nil, publicKey: nil,
                    certificate: nil)
            },
            createdAt: Date())
        let element = SecureElementEmulator(elementID: elementID, fileURL: url, state: state)
        try element.persist(state)
        return element
    }

    /// Opens an element made earlier by ``create(in:elementID:slots:)``.
    package static func open(in directory: URL, elementID: String) throws -> SecureElementEmulator {
        try SecureElementSlotRules.checkElementID(elementID)
        let url = fileURL(in: directory, elementID: elementID)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw FleetkeyError(.notFound, "no secure element '\(elementID)' in \(directory.path)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let state = try? decoder.decode(EmulatedElementFile.self, from: data),
            state.format == EmulatedElementFile.formatName, state.elementID == elementID
        else {
            throw FleetkeyError(.malformedInput, "the state file of emulated secure element '\(elementID)' is damaged")
        }
        return SecureElementEmulator(elementID: elementID, fileURL: url, state: state)
    }

    // MARK: SecureElement

    package func attestationPublicKey() throws -> Certificate.PublicKey {
        Certificate.PublicKey(try attestationKey(lock.withLock { state.attestationKey }).publicKey)
    }

    package func slots() throws -> [SecureElementSlotStatus] {
        lock.withLock { state.slots.map(Self.status) }
    }

    package func generateKey(inSlot slot: Int) throws -> Certificate.PublicKey {
        try mutate(slot, .generateKey) { entry in
            let (secret, publicKey) = Self.makeKey(entry.configuration.keySpec)
            entry.privateKey = secret.base64EncodedString()
            var spki = DER.Serializer()
            try spki.serialize(publicKey)
            entry.publicKey = Data(spki.serializedBytes).base64EncodedString()
            entry.keyState = .present
            return publicKey
        }
    }

    package func publicKey(inSlot slot: Int) throws -> Certificate.PublicKey {
        try read(slot, .readPublicKey) { try Self.publicKey($0) }
    }

    package func sign(_ message: [UInt8], inSlot slot: Int, algorithm: Certificate.SignatureAlgorithm) throws
        -> Certificate.Signature
    {
        try read(slot, .sign) { entry in
            try SecureElementSlotRules.checkAlgorithm(
                algorithm, for: entry.configuration.keySpec, slot: slot, element: elementID)
            return try Self.privateKey(entry).sign(bytes: message, signatureAlgorithm: algorithm)
        }
    }

    package func writeCertificate(_ certificate: Certificate, toSlot slot: Int) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let der = Data(serializer.serializedBytes).base64EncodedString()
        try mutate(slot, .writeCertificate) { entry in
            try SecureElementSlotRules.checkCertificate(
                certificate, matches: try Self.publicKey(entry), slot: slot, element: elementID)
            entry.certificate = der
        }
    }

    package func readCertificate(inSlot slot: Int) throws -> Certificate? {
        let der = try lock.withLock { try slotEntry(slot).certificate }
        guard let der else { return nil }
        guard let bytes = Data(base64Encoded: der) else {
            throw FleetkeyError(.malformedInput, "the certificate in slot \(slot) of '\(elementID)' is damaged")
        }
        return try Certificate(derEncoded: Array(bytes))
    }

    package func lock(slot: Int) throws {
        try mutate(slot, .lock) { $0.locked = true }
    }

    package func attest(slot: Int, nonce: [UInt8]) throws -> KeyAttestation {
        let (entry, attestationSecret) = try lock.withLock { () throws -> (EmulatedElementFile.Slot, String) in
            let found = try slotEntry(slot)
            try SecureElementSlotRules.check(.attest, Self.status(found), element: elementID)
            return (found, state.attestationKey)
        }
        // The emulator has no import path: every key in it was generated inside and none can be exported.
        let statement = try KeyAttestation.Statement(
            elementID: elementID, slot: slot, purpose: entry.configuration.purpose,
            publicKey: try Self.publicKey(entry),
            generatedOnElement: true, neverExtractable: true, slotLocked: entry.locked, nonce: nonce)
        let signer = Certificate.PrivateKey(try attestationKey(attestationSecret))
        return try KeyAttestation(statement: statement, signatureAlgorithm: .ecdsaWithSHA256) { bytes in
            try signer.sign(bytes: bytes, signatureAlgorithm: Certificate.SignatureAlgorithm.ecdsaWithSHA256)
        }
    }

    package func zeroize(slot: Int) throws {
        try mutate(slot, .zeroize) { entry in
            entry.privateKey = nil
            entry.keyState = .zeroized
        }
    }

    // MARK: Internals

    private static func status(_ entry: EmulatedElementFile.Slot) -> SecureElementSlotStatus {
        SecureElementSlotStatus(
            configuration: entry.configuration, keyState: entry.keyState, locked: entry.locked,
            hasCertificate: entry.certificate != nil)
    }

    private func slotEntry(_ slot: Int) throws -> EmulatedElementFile.Slot {
        guard let entry = state.slots.first(where: { $0.configuration.slot == slot }) else {
            throw SecureElementSlotRules.unknownSlot(slot, element: elementID)
        }
        return entry
    }

    /// Reads a slot under the lock after the rules allow `operation`.
    private func read<Result>(
        _ slot: Int, _ operation: SecureElementSlotRules.Operation, _ body: (EmulatedElementFile.Slot) throws -> Result
    )
        throws -> Result
    {
        try lock.withLock {
            let found = try slotEntry(slot)
            try SecureElementSlotRules.check(operation, Self.status(found), element: elementID)
            return try body(found)
        }
    }

    /// Changes a slot under the lock after the rules allow `operation`, and writes the element to disk before
    /// the change counts: if the write fails, the element is as it was.
    private func mutate<Result>(
        _ slot: Int, _ operation: SecureElementSlotRules.Operation,
        _ body: (inout EmulatedElementFile.Slot) throws -> Result
    ) throws -> Result {
        try lock.withLock {
            guard let index = state.slots.firstIndex(where: { $0.configuration.slot == slot }) else {
                throw SecureElementSlotRules.unknownSlot(slot, element: elementID)
            }
            try SecureElementSlotRules.check(operation, Self.status(state.slots[index]), element: elementID)
            var next = state
            let result = try body(&next.slots[index])
            try persist(next)
            state = next
            return result
        }
    }

    /// Writes the state file atomically (a private temporary file, then rename(2)), with mode 0600.
    ///
    /// Atomic against a killed process, which is what resuming an interrupted factory run needs; not flushed to
    /// disk (no fsync), because an emulator need not survive a power cut, and four fsyncs per provisioned device
    /// made the disk, not the work, the limit.
    private func persist(_ state: EmulatedElementFile) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(state)
        let temporary = fileURL.deletingLastPathComponent().appendingPathComponent(
            ".\(elementID).\(UUID().uuidString).tmp")
        let failure = FleetkeyError(
            .storage,
            "cannot write the state of emulated secure element '\(elementID)' in \(temporary.deletingLastPathComponent().path)"
        )
        let descriptor = Glibc.open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure }
        let written = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        guard Glibc.close(descriptor) == 0, written else {
            try? FileManager.default.removeItem(at: temporary)
            throw failure
        }
        guard rename(temporary.path, fileURL.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw FleetkeyError(.storage, "cannot replace the state file of emulated secure element '\(elementID)'")
        }
    }

    private static func makeKey(_ spec: KeySpec) -> (Data, Certificate.PublicKey) {
        if spec == .p384 {
            let key = P384.Signing.PrivateKey()
            return (key.rawRepresentation, Certificate.PublicKey(key.publicKey))
        }
        let key = P256.Signing.PrivateKey()
        return (key.rawRepresentation, Certificate.PublicKey(key.publicKey))
    }

    private static func privateKey(_ entry: EmulatedElementFile.Slot) throws -> Certificate.PrivateKey {
        guard let secret = entry.privateKey.flatMap({ Data(base64Encoded: $0) }) else {
            throw FleetkeyError(
                .malformedInput, "the key in slot \(entry.configuration.slot) is missing from the element's state")
        }
        do {
            if entry.configuration.keySpec == .p384 {
                return Certificate.PrivateKey(try P384.Signing.PrivateKey(rawRepresentation: secret))
            }
            return Certificate.PrivateKey(try P256.Signing.PrivateKey(rawRepresentation: secret))
        } catch {
            throw FleetkeyError(
                .malformedInput, "the key in slot \(entry.configuration.slot) of the element's state is damaged")
        }
    }

    private static func publicKey(_ entry: EmulatedElementFile.Slot) throws -> Certificate.PublicKey {
        guard let spki = entry.publicKey.flatMap({ Data(base64Encoded: $0) }) else {
            throw FleetkeyError(
                .malformedInput,
                "the public key of slot \(entry.configuration.slot) is missing from the element's state")
        }
        return try Certificate.PublicKey(derEncoded: Array(spki))
    }

    private func attestationKey(_ secret: String) throws -> P256.Signing.PrivateKey {
        guard let bytes = Data(base64Encoded: secret), let key = try? P256.Signing.PrivateKey(rawRepresentation: bytes)
        else {
            throw FleetkeyError(
                .malformedInput, "the attestation key of emulated secure element '\(elementID)' is damaged")
        }
        return key
    }
}
