import CPKCS11
import Crypto
import FleetkeyCore
import Foundation
import X509

/// Key custody in a PKCS#11 token (an HSM, a TPM or a smart card, and SoftHSM2 in tests).
///
/// References are RFC 7512 URIs (``PKCS11URI``), recorded in the registry as the key's location, such as
/// `pkcs11:token=fleet-ca;object=root;id=%3A...;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so`.
/// Keys are generated on the token as ECDSA keys that are sensitive, private and never extractable
/// (``PKCS11KeyGeneration``); signing hashes in the process and signs with CKM_ECDSA (``PKCS11SigningKey``).
///
/// The PIN is read, when a token is first needed, from the URI's `pin-source` or from FLEETKEY_PKCS11_PIN; it never
/// appears in a reference, an error or a log line.
///
/// A module is loaded only if it is in `allowedModules` (``PKCS11ModuleAllowList``): references come from the
/// registry, and the module a reference names runs inside this process.
package final class PKCS11KeyCustody: KeyCustody {
    package var kind: KeyCustodyKind { .pkcs11 }
    /// The token (and optionally the object label and id) new keys are generated in; `nil` for a custody that
    /// only signs with existing keys.
    package let generationTarget: PKCS11URI?
    /// The modules this custody may load.
    package let allowedModules: PKCS11ModuleAllowList
    private let environment: [String: String]

    package static let referencePrefix = "pkcs11:"

    package init(
        generatingIn target: PKCS11URI? = nil, allowedModules: PKCS11ModuleAllowList,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        if let target {
            try Self.checkModule(target)
            if let type = target.type, type != .privateKey {
                throw FleetkeyError(
                    .invalidArgument,
                    "a key URI names the private key: use type=private or leave type= out, not type=\(type.rawValue)")
            }
        }
        self.generationTarget = target
        self.allowedModules = allowedModules
        self.environment = environment
    }

    // MARK: KeyCustody

    /// Generates an ECDSA key pair on the token. The object label is the target URI's `object=`, else `label`;
    /// the id is the URI's `id=`, else 16 random bytes.
    package func generateKey(_ spec: KeySpec, label: String) async throws -> CustodiedKey {
        guard let target = generationTarget else {
            throw FleetkeyError(
                .configuration, "this PKCS#11 custody has no token to generate keys in: pass --key pkcs11:token=...")
        }
        let curve = try ECCurve(spec)
        let objectLabel = target.object ?? label
        let id = target.id ?? SystemRandomSource().bytes(count: 16)
        let (token, pin) = try connect(target)
        let publicKey = try token.withSession(pin: pin, "generate key '\(objectLabel)'") { session in
            try Self.refuseExisting(label: objectLabel, id: target.id, in: session, token: token)
            return try PKCS11KeyGeneration.generate(curve, label: objectLabel, id: id, in: session).publicKey
        }
        var reference = target.tokenOnly
        reference.object = objectLabel
        reference.id = id
        reference.type = .privateKey
        return CustodiedKey(reference: reference.description, publicKey: publicKey, spec: curve.keySpec)
    }

    package func signingKey(_ reference: String) async throws -> Certificate.PrivateKey {
        Certificate.PrivateKey(try signer(reference))
    }

    /// The key's public half, read from its public key object without logging the private key into use.
    package func publicKey(of reference: String) async throws -> Certificate.PublicKey {
        let uri = try Self.keyURI(reference)
        let (token, pin) = try connect(uri)
        return try token.withSession(pin: pin, "read the public key of \(uri.objectDescription)") { session in
            guard let objects = try PKCS11KeyObjects.find(uri, in: session) else {
                throw FleetkeyError(.notFound, "no private key \(uri.objectDescription) on \(token.name)")
            }
            return try objects.publicKey(in: session, naming: uri).1
        }
    }

    package func destroyKey(_ reference: String) async throws {
        let uri = try Self.keyURI(reference)
        let (token, pin) = try connect(uri)
        try token.withSession(pin: pin, "destroy key \(uri.objectDescription)") { session in
            guard let objects = try PKCS11KeyObjects.find(uri, in: session) else {
                throw FleetkeyError(.notFound, "no private key \(uri.objectDescription) on \(token.name)")
            }
            try objects.destroy(in: session)
        }
    }

    // MARK: Beyond the protocol

    /// Checks, before anything is written, that the generation target can be used: the module loads, the token is
    /// there, the PIN is accepted, and no key already has the label (the target's `object=`, else `defaultLabel`)
    /// or the target's id.
    package func preflight(defaultLabel: String? = nil) throws {
        guard let target = generationTarget else { return }
        let (token, pin) = try connect(target)
        try token.withSession(pin: pin, "check the token") { session in
            if let label = target.object ?? defaultLabel {
                try Self.refuseExisting(label: label, id: target.id, in: session, token: token)
            }
        }
    }

    /// The attributes of the referenced key, so an operator can prove its custody (`fleetkey hsm check`).
    package func keyReport(_ reference: String) throws -> PKCS11KeyReport {
        let uri = try Self.keyURI(reference)
        let (token, pin) = try connect(uri)
        return try token.withSession(pin: pin, "read the attributes of key \(uri.objectDescription)") { session in
            guard let objects = try PKCS11KeyObjects.find(uri, in: session) else {
                throw FleetkeyError(.notFound, "no private key \(uri.objectDescription) on \(token.name)")
            }
            let (curve, publicKey) = try objects.publicKey(in: session, naming: uri)
            let attributes = try PKCS11KeyAttributes.read(objects.privateKey, in: session)
            let valueReadable = try session.isReadable(CKA_VALUE, of: objects.privateKey)
            var canonical = uri.tokenOnly
            canonical.object = objects.label
            canonical.id = objects.id
            canonical.type = .privateKey
            return PKCS11KeyReport(
                uri: canonical.description, modulePath: token.module.path,
                token: .init(
                    label: token.info.label, manufacturer: token.info.manufacturer, model: token.info.model,
                    serial: token.info.serial),
                label: objects.label, id: objects.id.map { Hex.lower($0) }, algorithm: curve.keySpec.description,
                publicKeyFingerprint: KeyRecord.fingerprint(ofSubjectPublicKeyInfo: publicKey.subjectPublicKeyInfoDER),
                attributes: attributes, valueReadable: valueReadable,
                findings: PKCS11KeyReport.findings(attributes, valueReadable: valueReadable))
        }
    }

    // MARK: Internals

    func signer(_ reference: String) throws -> PKCS11SigningKey {
        let uri = try Self.keyURI(reference)
        let (token, pin) = try connect(uri)
        let (curve, publicKey) = try token.withSession(pin: pin, "find key \(uri.objectDescription)") { session in
            guard let objects = try PKCS11KeyObjects.find(uri, in: session) else {
                throw FleetkeyError(
                    .notFound,
                    "no private key \(uri.objectDescription) on \(token.name): check the URI's object= and id=, or "
                        + "whether the key was destroyed")
            }
            return try objects.publicKey(in: session, naming: uri)
        }
        return PKCS11SigningKey(token: token, pin: pin, uri: uri, curve: curve, publicKey: publicKey)
    }

    /// The loaded module's token the URI selects, and the PIN to log in with. The module must be allowed.
    func connect(_ uri: PKCS11URI) throws -> (PKCS11Token, PKCS11PIN) {
        try Self.checkModule(uri)
        let modulePath = try allowedModules.admit(uri.modulePath!)
        let pin = try PKCS11PIN.resolve(for: uri, environment: environment)
        let module = try PKCS11Module.load(modulePath)
        return (try module.token(matching: uri), pin)
    }

    static func keyURI(_ reference: String) throws -> PKCS11URI {
        let uri = try PKCS11URI(parsing: reference)
        if let type = uri.type, type != .privateKey {
            throw FleetkeyError(
                .invalidArgument,
                "a key URI names the private key: use type=private or leave type= out, not type=\(type.rawValue)")
        }
        return uri
    }

    static func checkModule(_ uri: PKCS11URI) throws {
        guard uri.modulePath != nil else {
            throw FleetkeyError(
                .invalidArgument,
                "the PKCS#11 URI has no module-path query attribute: add ?module-path=/path/to/module.so (for SoftHSM2 "
                    + "?module-path=/usr/lib/softhsm/libsofthsm2.so)")
        }
        guard uri.token != nil || uri.serial != nil || uri.slotID != nil else {
            throw FleetkeyError(.invalidArgument, "the PKCS#11 URI names no token: add token=LABEL (or serial=) to it")
        }
    }

    private static func refuseExisting(label: String, id: [UInt8]?, in session: PKCS11Session, token: PKCS11Token)
        throws
    {
        var taken = try session.findObjects([.ulong(CKA_CLASS, CKO_PRIVATE_KEY), .text(CKA_LABEL, label)])
        if let id { taken += try session.findObjects([.bytes(CKA_ID, id)]) }
        guard taken.isEmpty else {
            throw FleetkeyError(
                .alreadyExists,
                "\(token.name) already holds a key labelled '\(label)'\(id == nil ? "" : " or with that id"); choose "
                    + "another object= for the new key, Fleetkey does not overwrite keys")
        }
    }
}
