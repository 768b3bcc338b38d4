import SwiftASN1
import X509

extension Certificate.PublicKey {
    /// The DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7): algorithm and key, as a certificate carries them.
    ///
    /// Beware: swift-certificates' `subjectPublicKeyInfoBytes` is only the subjectPublicKey BIT STRING's contents
    /// (what OCSP hashes), not the SubjectPublicKeyInfo; use this for the whole structure.
    public var subjectPublicKeyInfoDER: [UInt8] {
        var serializer = DER.Serializer()
        try! serializer.serialize(self)
        return serializer.serializedBytes
    }

    /// The subjectPublicKey BIT STRING contents: what RFC 6960 §4.1.1 (issuerKeyHash), §4.2.1 (ResponderID
    /// byKey) and RFC 5280 §4.2.1.2 (key identifiers) hash.
    public var subjectPublicKeyBits: [UInt8] {
        Array(subjectPublicKeyInfoBytes)
    }
}
