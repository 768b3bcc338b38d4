import SwiftASN1
import X509

/// The subjectPublicKey BIT STRING contents of a key (RFC 5280 §4.1.2.7), which OCSP hashes for a CertID's
/// issuerKeyHash (RFC 6960 §4.1.1) and for a ResponderID's KeyHash (§4.2.1): without tag, length and the
/// unused-bits octet.
///
/// ```
/// SubjectPublicKeyInfo  ::=  SEQUENCE  {
///      algorithm            AlgorithmIdentifier,
///      subjectPublicKey     BIT STRING  }
/// ```
/// The key is encoded as its SubjectPublicKeyInfo and the BIT STRING read back, rather than trusting
/// swift-certificates' `subjectPublicKeyInfoBytes` (which, despite its name, returns only the key bits).
enum SubjectPublicKeyBits {
    /// swift-certificates' `subjectPublicKeyInfoBytes` already is exactly these contents (despite its name).
    static func bits(of key: Certificate.PublicKey) throws -> [UInt8] {
        key.subjectPublicKeyBits
    }
}
