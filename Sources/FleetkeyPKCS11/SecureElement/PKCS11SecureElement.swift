import CPKCS11
import FleetkeyCore
import Foundation
import SwiftASN1
import X509

/// A secure element whose keys live in a PKCS#11 token: one label prefix per element, so one token can hold a
/// whole bench of elements (and a token per element works just as well).
///
/// On the token, the element `SE-1` is a set of objects labelled `fleetkey-se/SE-1/...`:
///
/// | label | object |
/// |---|---|
/// | `element` | data object: the element's slot configuration (JSON) |
/// | `attestation` | EC key pair (P-256): the element's attestation key |
/// | `slot-N` | EC key pair generated in slot N, and the certificate written to it |
/// | `slot-N.locked`, `slot-N.zeroized` | data objects marking the slot's state |
///
/// Keys are generated on the token as sensitive, never-extractable keys (``PKCS11KeyGeneration``), so the
/// attestation's `generatedOnElement` and `neverExtractable` are the token's own CKA_LOCAL and
/// CKA_NEVER_EXTRACTABLE, not Fleetkey's say-so. The slot rules (``SecureElementSlotRules``) are applied under the
/// token's lock, reading the slot's state from the token each time.
package final class PKCS11SecureElement: SecureElement {
    package let elementID: String
    package let configuration: [SecureElementSlotConfiguration]
    let token: PKCS11Token
    let pin: PKCS11PIN

    static let application = "fleetkey-secure-element"
    static let format = "fleetkey-secure-element/1"

    private init(elementID: String, configuration: [SecureElementSlotConfiguration], token: PKCS11Token, pin: PKCS11PIN)
    {
        self.elementID = elementID
        self.configuration = configuration.sorted { $0.slot < $1.slot }
        self.token = token
        self.pin = pin
    }

    /// Makes a new element on the token `tokenURI` selects: its attestation key and its configuration.
    package static func create(
        token tokenURI: PKCS11URI, elementID: String,
        slots: [SecureElementSlotConfiguration] = SecureElementSlotConfiguration.standardLayout,
        allowedModules: PKCS11ModuleAllowList, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> PKCS11SecureElement {
        let (token, pin) = try PKCS11KeyCustody(allowedModules: allowedModules, environment: environment).connect(
            tokenURI)
        return try create(on: token, pin: pin, elementID: elementID, slots: slots)
    }

    /// Makes a new element on a token already connected (one login serves every element of a factory bench).
    static func create(
        on token: PKCS11Token, pin: PKCS11PIN, elementID: String,
        slots: [SecureElementSlotConfiguration] = SecureElementSlotConfiguration.standardLayout
    ) throws -> PKCS11SecureElement {
        try SecureElementSlotRules.checkConfiguration(slots, element: elementID)
        let element = PKCS11SecureElement(elementID: elementID, configuration: slots, token: token, pin: pin)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let descriptor = try encoder.encode(Descriptor(format: format, elementID: elementID, slots: slots))
        try token.withSession(pin: pin, "create secure element '\(elementID)'") { session in
            guard try element.find(CKO_DATA, element.label("element"), in: session).isEmpty else {
                throw FleetkeyError(.alreadyExists, "secure element '\(elementID)' already exists on \(token.name)")
            }
            let attestation = try PKCS11KeyGeneration.generate(
                .p256, label: element.label("attestation"), id: SystemRandomSource().bytes(count: 16), in: session)
            do {
                try element.createMarker("element", value: Array(descriptor), in: session)
            } catch {
                try? attestation.objects.destroy(in: session)
                throw error
            }
        }
        return element
    }

    /// Opens an element made earlier by ``create(token:elementID:slots:allowedModules:environment:)``.
    package static func open(
        token tokenURI: PKCS11URI, elementID: String, allowedModules: PKCS11ModuleAllowList,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> PKCS11SecureElement {
        let (token, pin) = try PKCS11KeyCustody(allowedModules: allowedModules, environment: environment).connect(
            tokenURI)
        return try open(on: token, pin: pin, elementID: elementID)
    }

    /// Opens an element on a token already connected.
    static func open(on token: PKCS11Token, pin: PKCS11PIN, elementID: String) throws -> PKCS11SecureElement {
        try SecureElementSlotRules.checkElementID(elementID)
        let label = "fleetkey-se/\(elementID)/element"
        let bytes = try token.withSession(pin: pin, "open secure element '\(elementID)'") { session -> [UInt8] in
            let found = try session.findObjects([
                .ulong(CKA_CLASS, CKO_DATA), .text(CKA_LABEL, label), .text(CKA_APPLICATION, application),
            ])
            guard let object = found.first, let value = try session.attribute(CKA_VALUE, of: object).bytes else {
                throw FleetkeyError(.notFound, "no secure element '\(elementID)' on \(token.name)")
            }
            return value
        }
        guard let descriptor = try? JSONDecoder().decode(Descriptor.self, from: Data(bytes)),
            descriptor.format == format, descriptor.elementID == elementID
        else {
            throw FleetkeyError(
                .malformedInput, "the configuration of secure element '\(elementID)' on \(token.name) is damaged")
        }
        return PKCS11SecureElement(elementID: elementID, configuration: descriptor.slots, token: token, pin: pin)
    }

    // MARK: SecureElement

    package func attestationPublicKey() throws -> Certificate.PublicKey {
        try token.withSession(pin: pin, "read the attestation key of '\(elementID)'") { session in
            try keyObjects("attestation", in: session).publicKey(in: session, naming: uri("attestation")).1
        }
    }

    package func slots() throws -> [SecureElementSlotStatus] {
        try token.withSession(pin: pin, "read the slots of '\(elementID)'") { session in
            try configuration.map { try status($0, in: session) }
        }
    }

    package func generateKey(inSlot slot: Int) throws -> Certificate.PublicKey {
        let config = try slotConfiguration(slot)
        return try token.withSession(pin: pin, "generate a key in slot \(slot) of '\(elementID)'") { session in
            try SecureElementSlotRules.check(.generateKey, try status(config, in: session), element: elementID)
            return try PKCS11KeyGeneration.generate(
                try ECCurve(config.keySpec), label: slotLabel(slot), id: SystemRandomSource().bytes(count: 16),
                in: session
            ).publicKey
        }
    }

    package func publicKey(inSlot slot: Int) throws -> Certificate.PublicKey {
        let config = try slotConfiguration(slot)
        return try token.withSession(pin: pin, "read the key in slot \(slot) of '\(elementID)'") { session in
            try SecureElementSlotRules.check(.readPublicKey, try status(config, in: session), element: elementID)
            return try keyObjects(slotName(slot), in: session).publicKey(in: session, naming: uri(slotName(slot))).1
        }
    }

    package func sign(_ message: [UInt8], inSlot slot: Int, algorithm: Certificate.SignatureAlgorithm) throws
        -> Certificate.Signature
    {
        let config = try slotConfiguration(slot)
        try SecureElementSlotRules.checkAlgorithm(algorithm, for: config.keySpec, slot: slot, element: elementID)
        let digest = try ECDSASignature.digest(message, for: algorithm)
        let raw = try token.withSession(pin: pin, "sign with slot \(slot) of '\(elementID)'") { session in
            try SecureElementSlotRules.check(.sign, try status(config, in: session), element: elementID)
            return try session.sign(
                mechanism: CKM_ECDSA, key: try keyObjects(slotName(slot), in: session).privateKey, data: digest)
        }
        return try ECDSASignature.signature(raw: raw, curve: try ECCurve(config.keySpec), algorithm: algorithm)
    }

    package func writeCertificate(_ certificate: Certificate, toSlot slot: Int) throws {
        let config = try slotConfiguration(slot)
        var subject = DER.Serializer()
        try subject.serialize(certificate.subject)
        var issuer = DER.Serializer()
        try issuer.serialize(certificate.issuer)
        var serial = DER.Serializer()
        try serial.serialize(ArraySlice(certificate.serialNumber.bytes))
        var value = DER.Serializer()
        try value.serialize(certificate)
        try token.withSession(pin: pin, "write a certificate to slot \(slot) of '\(elementID)'") { session in
            try SecureElementSlotRules.check(.writeCertificate, try status(config, in: session), element: elementID)
            let key = try keyObjects(slotName(slot), in: session).publicKey(in: session, naming: uri(slotName(slot))).1
            try SecureElementSlotRules.checkCertificate(certificate, matches: key, slot: slot, element: elementID)
            let previous = try find(CKO_CERTIFICATE, slotLabel(slot), in: session)
            _ = try session.createObject([
                .ulong(CKA_CLASS, CKO_CERTIFICATE), .ulong(CKA_CERTIFICATE_TYPE, CKC_X_509), .bool(CKA_TOKEN, true),
                .bool(CKA_PRIVATE, false), .text(CKA_LABEL, slotLabel(slot)),
                .bytes(CKA_SUBJECT, subject.serializedBytes),
                .bytes(CKA_ISSUER, issuer.serializedBytes), .bytes(CKA_SERIAL_NUMBER, serial.serializedBytes),
                .bytes(CKA_VALUE, value.serializedBytes),
            ])
            for object in previous { try session.destroyObject(object) }
        }
    }

    package func readCertificate(inSlot slot: Int) throws -> Certificate? {
        _ = try slotConfiguration(slot)
        let der = try token.withSession(pin: pin, "read the certificate in slot \(slot) of '\(elementID)'") {
            session -> [UInt8]? in
            guard let object = try find(CKO_CERTIFICATE, slotLabel(slot), in: session).first else { return nil }
            return try session.attribute(CKA_VALUE, of: object).bytes
        }
        return try der.map { try Certificate(derEncoded: $0) }
    }

    package func lock(slot: Int) throws {
        let config = try slotConfiguration(slot)
        try token.withSession(pin: pin, "lock slot \(slot) of '\(elementID)'") { session in
            let status = try status(config, in: session)
            try SecureElementSlotRules.check(.lock, status, element: elementID)
            if !status.locked { try createMarker("\(slotName(slot)).locked", value: [], in: session) }
        }
    }

    package func attest(slot: Int, nonce: [UInt8]) throws -> KeyAttestation {
        let config = try slotConfiguration(slot)
        return try token.withSession(pin: pin, "attest slot \(slot) of '\(elementID)'") { session in
            let status = try status(config, in: session)
            try SecureElementSlotRules.check(.attest, status, element: elementID)
            let objects = try keyObjects(slotName(slot), in: session)
            let publicKey = try objects.publicKey(in: session, naming: uri(slotName(slot))).1
            let attributes = try PKCS11KeyAttributes.read(objects.privateKey, in: session)
            let statement = try KeyAttestation.Statement(
                elementID: elementID, slot: slot, purpose: config.purpose, publicKey: publicKey,
                generatedOnElement: attributes.local == true,
                neverExtractable: attributes.neverExtractable == true && attributes.extractable == false,
                slotLocked: status.locked, nonce: nonce)
            let attestationKey = try keyObjects("attestation", in: session).privateKey
            return try KeyAttestation(statement: statement, signatureAlgorithm: .ecdsaWithSHA256) { bytes in
                let raw = try session.sign(
                    mechanism: CKM_ECDSA, key: attestationKey,
                    data: try ECDSASignature.digest(bytes, for: .ecdsaWithSHA256))
                return try ECDSASignature.signature(raw: raw, curve: .p256, algorithm: .ecdsaWithSHA256)
            }
        }
    }

    package func zeroize(slot: Int) throws {
        let config = try slotConfiguration(slot)
        try token.withSession(pin: pin, "zeroize slot \(slot) of '\(elementID)'") { session in
            let status = try status(config, in: session)
            try SecureElementSlotRules.check(.zeroize, status, element: elementID)
            // The marker first: if destroying fails half-way, the slot already refuses every use.
            if status.keyState != .zeroized { try createMarker("\(slotName(slot)).zeroized", value: [], in: session) }
            let uri = uri(slotName(slot))
            while let objects = try PKCS11KeyObjects.find(uri, in: session) { try objects.destroy(in: session) }
            for object in try find(CKO_PUBLIC_KEY, slotLabel(slot), in: session) { try session.destroyObject(object) }
        }
    }

    // MARK: Internals

    struct Descriptor: Codable {
        var format: String
        var elementID: String
        var slots: [SecureElementSlotConfiguration]
    }

    func label(_ name: String) -> String { "fleetkey-se/\(elementID)/\(name)" }
    func slotName(_ slot: Int) -> String { "slot-\(slot)" }
    func slotLabel(_ slot: Int) -> String { label(slotName(slot)) }
    func uri(_ name: String) -> PKCS11URI { PKCS11URI(object: label(name)) }

    private func slotConfiguration(_ slot: Int) throws -> SecureElementSlotConfiguration {
        guard let config = configuration.first(where: { $0.slot == slot }) else {
            throw SecureElementSlotRules.unknownSlot(slot, element: elementID)
        }
        return config
    }

    private func status(_ config: SecureElementSlotConfiguration, in session: PKCS11Session) throws
        -> SecureElementSlotStatus
    {
        let name = slotName(config.slot)
        let zeroized = try !find(CKO_DATA, label("\(name).zeroized"), in: session).isEmpty
        let locked = try !find(CKO_DATA, label("\(name).locked"), in: session).isEmpty
        let present = try !find(CKO_PRIVATE_KEY, label(name), in: session).isEmpty
        let certificate = try !find(CKO_CERTIFICATE, label(name), in: session).isEmpty
        return SecureElementSlotStatus(
            configuration: config, keyState: zeroized ? .zeroized : (present ? .present : .empty), locked: locked,
            hasCertificate: certificate)
    }

    private func find(_ objectClass: CK_OBJECT_CLASS, _ label: String, in session: PKCS11Session) throws
        -> [CK_OBJECT_HANDLE]
    {
        try session.findObjects([.ulong(CKA_CLASS, objectClass), .text(CKA_LABEL, label)])
    }

    private func keyObjects(_ name: String, in session: PKCS11Session) throws -> PKCS11KeyObjects {
        guard let objects = try PKCS11KeyObjects.find(uri(name), in: session) else {
            throw FleetkeyError(
                .custodyUnavailable,
                "the key '\(name)' of secure element '\(elementID)' is missing from \(token.name); nothing was signed")
        }
        return objects
    }

    private func createMarker(_ name: String, value: [UInt8], in session: PKCS11Session) throws {
        _ = try session.createObject([
            .ulong(CKA_CLASS, CKO_DATA), .bool(CKA_TOKEN, true), .bool(CKA_PRIVATE, true),
            .text(CKA_LABEL, label(name)),
            .text(CKA_APPLICATION, Self.application), .bytes(CKA_VALUE, value),
        ])
    }
}
