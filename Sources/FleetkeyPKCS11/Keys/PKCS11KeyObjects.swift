import CPKCS11
import FleetkeyCore
import X509

/// A key pair on a token, found by label and id: the private key object and its public key object.
struct PKCS11KeyObjects {
    let privateKey: CK_OBJECT_HANDLE
    let publicKey: CK_OBJECT_HANDLE?
    let label: String?
    let id: [UInt8]?

    /// The key pair the URI's object and id attributes name, or nil when the token holds none.
    static func find(_ uri: PKCS11URI, in session: PKCS11Session) throws -> PKCS11KeyObjects? {
        guard uri.object != nil || uri.id != nil else {
            throw FleetkeyError(
                .invalidArgument,
                "the PKCS#11 URI names no key: add object=LABEL (and/or id=%01...) to it (RFC 7512 §2.3)")
        }
        var selector: [PKCS11Attribute] = []
        if let label = uri.object { selector.append(.text(CKA_LABEL, label)) }
        if let id = uri.id { selector.append(.bytes(CKA_ID, id)) }
        let privateKeys = try session.findObjects([.ulong(CKA_CLASS, CKO_PRIVATE_KEY)] + selector)
        guard let privateKey = privateKeys.first else { return nil }
        guard privateKeys.count == 1 else {
            throw FleetkeyError(
                .invalidArgument,
                "\(privateKeys.count) private keys on the token match \(uri.objectDescription); add id= to the URI to choose one"
            )
        }
        let id = try session.attribute(CKA_ID, of: privateKey).bytes
        let label = try session.attribute(CKA_LABEL, of: privateKey).text
        var publicSelector: [PKCS11Attribute] = [.ulong(CKA_CLASS, CKO_PUBLIC_KEY)]
        if let id, !id.isEmpty { publicSelector.append(.bytes(CKA_ID, id)) }
        if let label { publicSelector.append(.text(CKA_LABEL, label)) }
        let publicKeys = try session.findObjects(publicSelector)
        return PKCS11KeyObjects(
            privateKey: privateKey, publicKey: publicKeys.count == 1 ? publicKeys[0] : nil, label: label, id: id)
    }

    /// The curve and public key, read from the public key object (CKA_EC_PARAMS, CKA_EC_POINT).
    func publicKey(in session: PKCS11Session, naming uri: PKCS11URI) throws -> (ECCurve, Certificate.PublicKey) {
        guard let publicKey else {
            throw FleetkeyError(
                .notFound,
                "the token holds the private key \(uri.objectDescription) but no matching public key object (same "
                    + "CKA_ID and label); Fleetkey needs it to know the key")
        }
        guard try session.attribute(CKA_KEY_TYPE, of: privateKey).ulong == CKK_EC,
            let parameters = try session.attribute(CKA_EC_PARAMS, of: publicKey).bytes,
            let curve = ECCurve(parameters: parameters)
        else {
            throw FleetkeyError(
                .algorithmNotAllowed,
                "the PKCS#11 key \(uri.objectDescription) is not an ECDSA key on P-256, P-384 or P-521, which is what "
                    + "Fleetkey signs with")
        }
        guard let point = try session.attribute(CKA_EC_POINT, of: publicKey).bytes else {
            throw FleetkeyError(.notFound, "the public key object of \(uri.objectDescription) has no CKA_EC_POINT")
        }
        return (curve, try curve.publicKey(ecPoint: point))
    }

    func destroy(in session: PKCS11Session) throws {
        try session.destroyObject(privateKey)
        if let publicKey { try session.destroyObject(publicKey) }
    }
}

/// Makes EC key pairs inside a token, with the attributes that keep the private half there for good.
enum PKCS11KeyGeneration {
    /// Generates the pair (CKM_EC_KEY_PAIR_GEN, v2.40 §2.3.5) and checks what the token made: a token that
    /// ignores CKA_SENSITIVE or CKA_EXTRACTABLE gets its key destroyed, not used.
    ///
    /// The private key: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE = true; CKA_EXTRACTABLE, CKA_DERIVE = false;
    /// CKA_SIGN = true. The token then reports CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE = true.
    static func generate(
        _ curve: ECCurve, label: String, id: [UInt8], in session: PKCS11Session
    ) throws -> (objects: PKCS11KeyObjects, publicKey: Certificate.PublicKey) {
        let common: [PKCS11Attribute] = [
            .ulong(CKA_KEY_TYPE, CKK_EC), .bool(CKA_TOKEN, true), .text(CKA_LABEL, label), .bytes(CKA_ID, id),
        ]
        let (publicHandle, privateHandle) = try session.generateKeyPair(
            mechanism: CKM_EC_KEY_PAIR_GEN,
            publicTemplate: common + [
                .ulong(CKA_CLASS, CKO_PUBLIC_KEY), .bool(CKA_PRIVATE, false), .bool(CKA_VERIFY, true),
                .bytes(CKA_EC_PARAMS, curve.parameters),
            ],
            privateTemplate: common + [
                .ulong(CKA_CLASS, CKO_PRIVATE_KEY), .bool(CKA_PRIVATE, true), .bool(CKA_SENSITIVE, true),
                .bool(CKA_EXTRACTABLE, false), .bool(CKA_SIGN, true), .bool(CKA_DERIVE, false),
            ])
        let objects = PKCS11KeyObjects(privateKey: privateHandle, publicKey: publicHandle, label: label, id: id)
        do {
            let attributes = try PKCS11KeyAttributes.read(privateHandle, in: session)
            guard attributes.sensitive == true, attributes.extractable == false, attributes.neverExtractable == true,
                attributes.local == true, attributes.privateObject == true, attributes.onToken == true
            else {
                throw FleetkeyError(
                    .custodyNotProven,
                    "the token made key '\(label)' without the protection Fleetkey asked for (sensitive, not "
                        + "extractable, never extractable, generated on the token); the key was destroyed")
            }
            guard let point = try session.attribute(CKA_EC_POINT, of: publicHandle).bytes else {
                throw FleetkeyError(.custodyUnavailable, "the token made key '\(label)' but gave no CKA_EC_POINT")
            }
            return (objects, try curve.publicKey(ecPoint: point))
        } catch {
            try? objects.destroy(in: session)
            throw error
        }
    }
}
