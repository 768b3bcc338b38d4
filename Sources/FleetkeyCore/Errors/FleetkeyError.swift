/// An error Fleetkey reports to its user: a stable code, and a reason that names the input and the rule.
///
/// Equality is on the code alone, so callers and tests match on *what kind* of failure happened while
/// the reason stays free to be specific. A reason never carries secret material (keys, passphrases,
/// PINs): build it from identifiers, never from key bytes.
public struct FleetkeyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is; stable across releases so scripts can branch on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Input could not be decoded (not PEM, not DER, truncated, wrong structure).
        public static let malformedInput = Code("malformed-input")
        /// A request's signature does not verify: the requester did not prove possession of the key.
        public static let proofOfPossessionFailed = Code("proof-of-possession-failed")
        /// The key's algorithm or size is not allowed by the algorithm policy.
        public static let algorithmNotAllowed = Code("algorithm-not-allowed")
        /// The subject does not fit the certificate profile or the issuing CA's namespace.
        public static let subjectRejected = Code("subject-rejected")
        /// A pre-issuance lint found the certificate does not match its profile; nothing was signed.
        public static let lintFailed = Code("lint-failed")
        /// A named thing (vendor, device, certificate, profile) does not exist.
        public static let notFound = Code("not-found")
        /// A thing with that name already exists.
        public static let alreadyExists = Code("already-exists")
        /// A lifecycle transition that the state machine does not allow from the current state.
        public static let invalidTransition = Code("invalid-transition")
        /// Another writer changed the record first; retry after re-reading.
        public static let conflict = Code("conflict")
        /// A keystore could not be opened: wrong passphrase or a damaged key file.
        public static let keyAccessDenied = Code("key-access-denied")
        /// The ecosystem directory is missing, incomplete, or its configuration is invalid.
        public static let configuration = Code("configuration")
        /// The registry failed (I/O, constraint, unavailable).
        public static let storage = Code("storage")
        /// A command-line or API argument is invalid.
        public static let invalidArgument = Code("invalid-argument")
        /// Key custody cannot be reached: a PKCS#11 module that does not load, a token that is missing or was
        /// removed, a secure element that is gone. Nothing was signed.
        public static let custodyUnavailable = Code("custody-unavailable")
        /// A key's custody attributes do not prove it cannot leave its token (extractable, not sensitive, imported).
        public static let custodyNotProven = Code("custody-not-proven")
        /// A secure element's key attestation does not verify, or does not say what the verifier requires.
        public static let attestationRejected = Code("attestation-rejected")
        /// A revocation-status answer (an OCSP response) does not verify: wrong signer, bad signature, stale, or
        /// about another certificate.
        public static let statusNotVerified = Code("status-not-verified")
        /// A supply-chain manifest failed verification; nothing of it was imported.
        public static let manifestRejected = Code("manifest-rejected")
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }

    public static func == (lhs: FleetkeyError, rhs: FleetkeyError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
