import X509

/// The rules every secure element applies before it acts on a slot, so all implementations refuse the same things
/// with the same errors.
///
/// ```
///  empty ──generate──> present ──lock──> present+locked
///    │                    │                   │
///    └──────zeroize───────┴──────zeroize──────┴──> zeroized (for good)
/// ```
/// A locked slot refuses key generation and certificate writes; a zeroized slot refuses everything but reading
/// its certificate. Locking an empty slot is refused, so a factory mistake cannot brick a slot silently.
public enum SecureElementSlotRules {
    /// Operations on a slot that the rules decide on.
    public enum Operation: String, Sendable {
        case generateKey = "generate a key in"
        case writeCertificate = "write a certificate to"
        case lock = "lock"
        case sign = "sign with"
        case attest = "attest"
        case readPublicKey = "read the public key of"
        case zeroize = "zeroize"
    }

    /// Throws when `operation` is not allowed on a slot in `status`.
    public static func check(_ operation: Operation, _ status: SecureElementSlotStatus, element: String) throws {
        let slot = "slot \(status.configuration.slot) of secure element '\(element)'"
        if status.keyState == .zeroized, operation != .zeroize {
            throw FleetkeyError(
                .invalidTransition,
                "cannot \(operation.rawValue) \(slot): the slot was zeroized and its key destroyed for good")
        }
        switch operation {
        case .generateKey:
            if status.locked {
                throw FleetkeyError(.invalidTransition, "cannot generate a key in \(slot): the slot is locked")
            }
            if status.keyState == .present {
                throw FleetkeyError(
                    .alreadyExists, "cannot generate a key in \(slot): the slot already holds one; zeroize it first")
            }
        case .writeCertificate:
            if status.locked {
                throw FleetkeyError(.invalidTransition, "cannot write a certificate to \(slot): the slot is locked")
            }
            try requireKey(operation, status, slot)
        case .lock, .sign, .attest, .readPublicKey:
            try requireKey(operation, status, slot)
        case .zeroize:
            break
        }
    }

    /// The certificate must certify the slot's own key.
    public static func checkCertificate(
        _ certificate: Certificate, matches key: Certificate.PublicKey, slot: Int, element: String
    )
        throws
    {
        guard certificate.publicKey == key else {
            throw FleetkeyError(
                .invalidArgument,
                "the certificate (serial \(certificate.serialNumber.hexString)) certifies another key than the one in slot \(slot) "
                    + "of secure element '\(element)'; nothing was written")
        }
    }

    /// A slot key signs with the algorithm its key spec names (ecdsa-with-SHA256 for P-256, -SHA384 for P-384).
    public static func checkAlgorithm(
        _ algorithm: Certificate.SignatureAlgorithm, for spec: KeySpec, slot: Int, element: String
    ) throws {
        guard algorithm == spec.signatureAlgorithm else {
            throw FleetkeyError(
                .algorithmNotAllowed,
                "slot \(slot) of secure element '\(element)' holds a \(spec) key, which signs with \(spec.signatureAlgorithm), "
                    + "not \(algorithm)")
        }
    }

    /// Element configurations: slots 0...15, each once, ECDSA P-256 or P-384 keys.
    public static func checkConfiguration(_ slots: [SecureElementSlotConfiguration], element: String) throws {
        try checkElementID(element)
        guard !slots.isEmpty else {
            throw FleetkeyError(.invalidArgument, "secure element '\(element)' needs at least one slot")
        }
        var seen = Set<Int>()
        for slot in slots {
            guard (0...15).contains(slot.slot), seen.insert(slot.slot).inserted else {
                throw FleetkeyError(
                    .invalidArgument,
                    "secure element '\(element)': slot numbers must be 0...15, each used once (\(slot.slot))")
            }
            guard slot.keySpec == .p256 || slot.keySpec == .p384 else {
                throw FleetkeyError(
                    .algorithmNotAllowed,
                    "secure element '\(element)' slot \(slot.slot): a slot holds an ecdsa-p256 or ecdsa-p384 key, not \(slot.keySpec)"
                )
            }
        }
    }

    /// Element identifiers: 1-64 letters, digits, '-', '.' or '_' (they become file names and PKCS#11 labels).
    public static func checkElementID(_ id: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
        guard (1...64).contains(id.count), id.allSatisfy(allowed.contains), !id.hasPrefix(".") else {
            throw FleetkeyError(
                .invalidArgument,
                "secure element id '\(id)' must be 1-64 letters, digits, '-', '.' or '_', not starting with '.'")
        }
    }

    public static func unknownSlot(_ slot: Int, element: String) -> FleetkeyError {
        FleetkeyError(.notFound, "secure element '\(element)' has no slot \(slot)")
    }

    private static func requireKey(_ operation: Operation, _ status: SecureElementSlotStatus, _ slot: String) throws {
        guard status.keyState == .present else {
            throw FleetkeyError(.invalidTransition, "cannot \(operation.rawValue) \(slot): the slot holds no key yet")
        }
    }
}
