import Crypto
import X509
import _CryptoExtras

/// A key algorithm family, as named in the policy file.
public enum KeyFamily: String, Sendable, Codable, Hashable, CaseIterable {
    case ecdsaP256 = "ecdsa-p256"
    case ecdsaP384 = "ecdsa-p384"
    case ecdsaP521 = "ecdsa-p521"
    case ed25519
    case rsa
}

/// A key algorithm and size: what the algorithm policy rules on.
public struct KeySpec: Hashable, Sendable, Codable, CustomStringConvertible {
    public var family: KeyFamily
    /// The key size in bits (the curve size for ECDSA, 256 for Ed25519, the modulus for RSA).
    public var bits: Int

    public init(family: KeyFamily, bits: Int) {
        self.family = family
        self.bits = bits
    }

    public static let p256 = KeySpec(family: .ecdsaP256, bits: 256)
    public static let p384 = KeySpec(family: .ecdsaP384, bits: 384)
    public static let p521 = KeySpec(family: .ecdsaP521, bits: 521)
    public static let ed25519 = KeySpec(family: .ed25519, bits: 256)
    public static func rsa(_ bits: Int) -> KeySpec { KeySpec(family: .rsa, bits: bits) }

    /// Parses the short names the CLI accepts: `p256`, `p384`, `p521`, `ed25519`, `rsa2048`, `rsa3072`, `rsa4096`.
    public init(cliName: String) throws {
        switch cliName.lowercased() {
        case "p256", "ecdsa-p256": self = .p256
        case "p384", "ecdsa-p384": self = .p384
        case "p521", "ecdsa-p521": self = .p521
        case "ed25519": self = .ed25519
        case "rsa2048": self = .rsa(2048)
        case "rsa3072": self = .rsa(3072)
        case "rsa4096": self = .rsa(4096)
        default:
            throw FleetkeyError(
                .invalidArgument,
                "unknown algorithm '\(cliName)': use p256, p384, p521, ed25519, rsa2048, rsa3072 or rsa4096"
            )
        }
    }

    /// What a public key is, read from its SubjectPublicKeyInfo.
    public init(_ key: Certificate.PublicKey) throws {
        if P256.Signing.PublicKey(key) != nil {
            self = .p256
        } else if P384.Signing.PublicKey(key) != nil {
            self = .p384
        } else if P521.Signing.PublicKey(key) != nil {
            self = .p521
        } else if Curve25519.Signing.PublicKey(key) != nil {
            self = .ed25519
        } else if let rsa = _RSA.Signing.PublicKey(key) {
            self = .rsa(rsa.keySizeInBits)
        } else {
            throw FleetkeyError(.algorithmNotAllowed, "the public key uses an algorithm Fleetkey does not know")
        }
    }

    /// The signature algorithm a CA with this key signs with (RFC 5758 for ECDSA, RFC 8410 for Ed25519).
    public var signatureAlgorithm: Certificate.SignatureAlgorithm {
        switch family {
        case .ecdsaP256: .ecdsaWithSHA256
        case .ecdsaP384: .ecdsaWithSHA384
        case .ecdsaP521: .ecdsaWithSHA512
        case .ed25519: .ed25519
        case .rsa: .sha256WithRSAEncryption
        }
    }

    public var description: String { family == .rsa ? "rsa-\(bits)" : family.rawValue }

    public init(from decoder: any Decoder) throws {
        try self.init(policyName: decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension KeySpec {
    /// Parses the policy-file name of a spec (`ecdsa-p256`, `ed25519`, `rsa-3072`), as ``description`` writes it.
    public init(policyName: String) throws {
        if policyName.hasPrefix("rsa-"), let bits = Int(policyName.dropFirst(4)) {
            self = .rsa(bits)
            return
        }
        switch KeyFamily(rawValue: policyName) {
        case .ecdsaP256: self = .p256
        case .ecdsaP384: self = .p384
        case .ecdsaP521: self = .p521
        case .ed25519: self = .ed25519
        default: throw FleetkeyError(.malformedInput, "unknown key algorithm '\(policyName)'")
        }
    }
}
