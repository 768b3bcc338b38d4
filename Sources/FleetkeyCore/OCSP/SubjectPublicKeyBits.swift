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
/// swift-certificates' `subjectPublicKeyInfoBytes` is, despite its name, exactly these contents
/// (see ``Certificate/PublicKey/subjectPublicKeyBits``).
enum SubjectPublicKeyBits {
    static func bits(of key: Certificate.PublicKey) throws -> [UInt8] {
        key.subjectPublicKeyBits
    }
}
