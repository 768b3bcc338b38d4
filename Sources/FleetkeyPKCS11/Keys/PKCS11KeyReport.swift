import FleetkeyCore

/// What `fleetkey hsm check` reports about a key: where it is and whether the token proves it cannot leave.
package struct PKCS11KeyReport: Sendable, Hashable, Codable {
    package struct Token: Sendable, Hashable, Codable {
        package var label: String
        package var manufacturer: String
        package var model: String
        package var serial: String
    }

    /// The key's canonical URI.
    package var uri: String
    package var modulePath: String
    package var token: Token
    package var label: String?
    /// CKA_ID in lower-case hex.
    package var id: String?
    package var algorithm: String
    /// The key's fingerprint as the registry computes it (``FleetkeyCore/KeyRecord/fingerprint``), so the report
    /// can be matched with the registry's key records.
    package var publicKeyFingerprint: String
    package var attributes: PKCS11KeyAttributes
    /// Whether the token answered a request for CKA_VALUE's length with the value available. Asked for the length
    /// only, so no key byte is ever copied out, even from a badly configured token.
    package var valueReadable: Bool
    /// Why custody is not proven; empty when it is.
    package var findings: [String]

    package var custodyProven: Bool { findings.isEmpty }

    static func findings(_ attributes: PKCS11KeyAttributes, valueReadable: Bool) -> [String] {
        var findings: [String] = []
        if attributes.sensitive != true { findings.append("CKA_SENSITIVE is not true: the token may reveal the key") }
        if attributes.extractable != false {
            findings.append("CKA_EXTRACTABLE is not false: the key may be wrapped out")
        }
        if attributes.neverExtractable != true {
            findings.append("CKA_NEVER_EXTRACTABLE is not true: the key was extractable at some time")
        }
        if attributes.alwaysSensitive != true {
            findings.append("CKA_ALWAYS_SENSITIVE is not true: the key was not sensitive at some time")
        }
        if attributes.local != true {
            findings.append("CKA_LOCAL is not true: the key was imported, not generated on the token")
        }
        if valueReadable { findings.append("the token offers CKA_VALUE: the private key can be read out") }
        return findings
    }
}
