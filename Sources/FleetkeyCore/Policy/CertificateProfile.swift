import Foundation

/// A certificate profile: the one ecosystem-wide description of a kind of certificate.
///
/// Every certificate is built from its profile and then linted against the same profile before it is
/// signed (``ProfileLinter``), so the policy file is the single source of truth for what Fleetkey issues.
public struct CertificateProfile: Codable, Sendable, Hashable {
    /// Whether the certificate is a CA (basicConstraints cA, RFC 5280 §4.2.1.9).
    public var certificateAuthority: Bool
    /// pathLenConstraint for CA profiles; `nil` for no limit.
    public var pathLength: Int?
    public var validityDays: Int
    /// For short-lived certificates: the validity in seconds, counted from notBefore, instead of ``validityDays``
    /// (an operator trying out renewal, or a fleet whose identities live for hours). Absent: ``validityDays``.
    public var validitySeconds: Int?
    /// How far notBefore is set back from the moment of issuance, to tolerate clock skew on devices.
    public var backdateSeconds: Int
    public var allowedAlgorithms: [KeyFamily]
    /// keyUsage bits by their RFC 5280 names (`digitalSignature`, `keyCertSign`, `cRLSign`).
    public var keyUsage: [String]
    /// extendedKeyUsage purposes (`clientAuth`, `serverAuth`, `ocspSigning`, `documentSigning`).
    public var extendedKeyUsage: [String]
    /// Subject attributes (short names: `O`, `CN`, `serialNumber`, `OU`) that must be present.
    public var requiredSubject: [String]
    /// Subject attributes that may be present; anything else in a request is refused.
    public var optionalSubject: [String]
    /// Which pointers to its issuer the certificate carries: `ocsp` and `caIssuers` in authorityInfoAccess
    /// (RFC 5280 §4.2.2.1) and `crl` as a cRLDistributionPoint (§4.2.1.13). A vendor CA points at the root's CRL
    /// and certificate but not at an OCSP responder, because the root stays offline.
    public var issuerPointers: [String]
    /// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), for delegated OCSP responders.
    public var ocspNoCheck: Bool
    /// Whether a hardwareModuleName (RFC 4108 §5) otherName goes into the subjectAltName.
    public var hardwareModuleName: Requirement

    /// Whether a profile element must, may or must not appear.
    public enum Requirement: String, Codable, Sendable, Hashable {
        case required, optional, forbidden
    }

    public init(
        certificateAuthority: Bool,
        pathLength: Int? = nil,
        validityDays: Int,
        backdateSeconds: Int = 60,
        allowedAlgorithms: [KeyFamily],
        keyUsage: [String],
        extendedKeyUsage: [String] = [],
        requiredSubject: [String],
        optionalSubject: [String] = [],
        issuerPointers: [String],
        ocspNoCheck: Bool = false,
        hardwareModuleName: Requirement = .forbidden
    ) {
        self.certificateAuthority = certificateAuthority
        self.pathLength = pathLength
        self.validityDays = validityDays
        self.backdateSeconds = backdateSeconds
        self.allowedAlgorithms = allowedAlgorithms
        self.keyUsage = keyUsage
        self.extendedKeyUsage = extendedKeyUsage
        self.requiredSubject = requiredSubject
        self.optionalSubject = optionalSubject
        self.issuerPointers = issuerPointers
        self.ocspNoCheck = ocspNoCheck
        self.hardwareModuleName = hardwareModuleName
    }
}

extension CertificateProfile {
    /// How long a certificate of this profile is valid, in seconds.
    public var validity: TimeInterval {
        validitySeconds.map { TimeInterval($0) } ?? TimeInterval(validityDays) * 86_400
    }
}

extension CertificateProfile {
    /// Profile names the core itself issues under.
    public enum Name {
        public static let root = "root-ca"
        public static let vendorCA = "vendor-ca"
        public static let deviceIdentity = "device-identity"
        public static let ocspResponder = "ocsp-responder"
        public static let manifestSigner = "manifest-signer"
        /// An owner's domain CA, self-signed in the owner's registry.
        public static let ownerCA = "owner-ca"
        /// An operational device identity (IEEE 802.1AR LDevID), issued by the owner's domain CA over EST.
        public static let ldevid = "ldevid"
    }

    /// The ecosystem standard of DESIGN.md, "Certificate profiles".
    public static let defaults: [String: CertificateProfile] = [
        Name.root: CertificateProfile(
            certificateAuthority: true, validityDays: 365 * 30, backdateSeconds: 0,
            allowedAlgorithms: [.ecdsaP384, .ecdsaP256, .ecdsaP521, .ed25519, .rsa],
            keyUsage: ["keyCertSign", "cRLSign"], requiredSubject: ["O", "CN"], issuerPointers: []),
        Name.vendorCA: CertificateProfile(
            certificateAuthority: true, pathLength: 0, validityDays: 365 * 25, backdateSeconds: 0,
            allowedAlgorithms: [.ecdsaP256, .ecdsaP384, .ecdsaP521, .ed25519, .rsa],
            keyUsage: ["keyCertSign", "cRLSign"], requiredSubject: ["O", "CN"], issuerPointers: ["caIssuers", "crl"]),
        Name.deviceIdentity: CertificateProfile(
            certificateAuthority: false, validityDays: 365 * 20,
            allowedAlgorithms: [.ecdsaP256, .ecdsaP384, .ed25519, .rsa],
            keyUsage: ["digitalSignature"], extendedKeyUsage: ["clientAuth"],
            requiredSubject: ["O", "serialNumber"], optionalSubject: ["CN"],
            issuerPointers: ["ocsp", "caIssuers", "crl"], hardwareModuleName: .optional),
        Name.ocspResponder: CertificateProfile(
            certificateAuthority: false, validityDays: 365,
            allowedAlgorithms: [.ecdsaP256, .ecdsaP384, .ed25519, .rsa],
            keyUsage: ["digitalSignature"], extendedKeyUsage: ["ocspSigning"],
            requiredSubject: ["O", "CN"], issuerPointers: [], ocspNoCheck: true),
        Name.manifestSigner: CertificateProfile(
            certificateAuthority: false, validityDays: 365 * 5,
            allowedAlgorithms: [.ecdsaP256, .ecdsaP384, .ed25519, .rsa],
            keyUsage: ["digitalSignature"], extendedKeyUsage: ["documentSigning"],
            requiredSubject: ["O", "CN"], issuerPointers: ["ocsp", "caIssuers", "crl"]),
    ]
}

extension CertificateProfile {
    /// The profiles of an owner's registry (`fleetkey owner ca create`): its domain CA, the operational identities
    /// it issues over EST, and the domain CA's delegated OCSP responder.
    ///
    /// An LDevID is short-lived (30 days): a device renews it over EST well before it ends, and a device that
    /// stops renewing drops out of service by itself. Its subject names the device as its factory identity does
    /// (`O=<vendor>`, `serialNumber=<device serial>`), and it points at the owner's own `fleetkey serve` for status.
    public static let ownerDefaults: [String: CertificateProfile] = [
        Name.ownerCA: CertificateProfile(
            certificateAuthority: true, pathLength: 0, validityDays: 365 * 10, backdateSeconds: 0,
            allowedAlgorithms: [.ecdsaP256, .ecdsaP384, .ecdsaP521, .ed25519, .rsa],
            keyUsage: ["keyCertSign", "cRLSign"], requiredSubject: ["O", "CN"], issuerPointers: []),
        Name.ldevid: CertificateProfile(
            certificateAuthority: false, validityDays: 30,
            allowedAlgorithms: [.ecdsaP256, .ecdsaP384, .ed25519, .rsa],
            keyUsage: ["digitalSignature"], extendedKeyUsage: ["clientAuth"],
            requiredSubject: ["O", "serialNumber"], optionalSubject: ["CN"],
            issuerPointers: ["ocsp", "caIssuers", "crl"]),
        Name.ocspResponder: defaults[Name.ocspResponder]!,
    ]
}
