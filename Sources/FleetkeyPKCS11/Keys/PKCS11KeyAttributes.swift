import CPKCS11
import FleetkeyCore

/// The attributes of a private key that say whether it can leave its token (PKCS#11 v2.40 §4.9, Table 35).
///
/// - CKA_SENSITIVE: the token never reveals the key's value in plaintext.
/// - CKA_EXTRACTABLE: whether the key may be wrapped out at all.
/// - CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE: set by the token, true only if the key has been sensitive and
///   unextractable since it was made.
/// - CKA_LOCAL: set by the token, true only if the key was generated on it (not imported).
/// A `nil` means the token did not report the attribute.
package struct PKCS11KeyAttributes: Sendable, Hashable, Codable {
    package var sensitive: Bool?
    package var extractable: Bool?
    package var alwaysSensitive: Bool?
    package var neverExtractable: Bool?
    package var local: Bool?
    package var privateObject: Bool?
    package var onToken: Bool?
    package var sign: Bool?

    static func read(_ object: CK_OBJECT_HANDLE, in session: PKCS11Session) throws -> PKCS11KeyAttributes {
        PKCS11KeyAttributes(
            sensitive: try session.attribute(CKA_SENSITIVE, of: object).bool,
            extractable: try session.attribute(CKA_EXTRACTABLE, of: object).bool,
            alwaysSensitive: try session.attribute(CKA_ALWAYS_SENSITIVE, of: object).bool,
            neverExtractable: try session.attribute(CKA_NEVER_EXTRACTABLE, of: object).bool,
            local: try session.attribute(CKA_LOCAL, of: object).bool,
            privateObject: try session.attribute(CKA_PRIVATE, of: object).bool,
            onToken: try session.attribute(CKA_TOKEN, of: object).bool,
            sign: try session.attribute(CKA_SIGN, of: object).bool)
    }

    /// Whether the key was born on the token and can never leave it.
    package var bornInsideAndUnextractable: Bool {
        local == true && neverExtractable == true && extractable == false && sensitive == true
            && alwaysSensitive == true
    }
}
