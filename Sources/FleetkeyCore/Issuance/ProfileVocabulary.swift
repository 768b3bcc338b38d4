import SwiftASN1
import X509

/// Maps the names used in the policy file to X.509 values, in one place for the builder and the linter.
enum ProfileVocabulary {
    static func keyUsage(_ names: [String], profile: String) throws(FleetkeyError) -> KeyUsage {
        var usage = KeyUsage()
        for name in names {
            switch name {
            case "digitalSignature": usage.digitalSignature = true
            case "nonRepudiation", "contentCommitment": usage.nonRepudiation = true
            case "keyEncipherment": usage.keyEncipherment = true
            case "keyAgreement": usage.keyAgreement = true
            case "keyCertSign": usage.keyCertSign = true
            case "cRLSign": usage.cRLSign = true
            default:
                throw FleetkeyError(
                    .configuration,
                    "profiles.\(profile).keyUsage: '\(name)' is not a keyUsage bit (RFC 5280 §4.2.1.3); use "
                        + "digitalSignature, nonRepudiation, keyEncipherment, keyAgreement, keyCertSign or cRLSign")
            }
        }
        return usage
    }

    static func extendedKeyUsage(_ names: [String], profile: String) throws(FleetkeyError)
        -> [ExtendedKeyUsage.Usage]
    {
        try names.map { name throws(FleetkeyError) in
            switch name {
            case "clientAuth": .clientAuth
            case "serverAuth": .serverAuth
            case "codeSigning": .codeSigning
            case "ocspSigning": .ocspSigning
            case "documentSigning": ExtendedKeyUsage.Usage(oid: FleetkeyOID.documentSigning)
            default:
                throw FleetkeyError(
                    .configuration,
                    "profiles.\(profile).extendedKeyUsage: '\(name)' is unknown; use clientAuth, serverAuth, "
                        + "codeSigning, ocspSigning or documentSigning")
            }
        }
    }
}
