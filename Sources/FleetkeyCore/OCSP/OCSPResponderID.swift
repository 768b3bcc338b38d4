import SwiftASN1
import X509

/// Who signed a basic response, RFC 6960 §4.2.1.
///
/// ```
/// ResponderID ::= CHOICE {
///     byName   [1] Name,
///     byKey    [2] KeyHash }
///
/// KeyHash ::= OCTET STRING -- SHA-1 hash of responder's public key
///                          -- (i.e., the SHA-1 hash of the value of the
///                          -- BIT STRING subjectPublicKey [excluding
///                          -- the tag, length, and number of unused
///                          -- bits] in the responder's certificate)
/// ```
/// The OCSP module is written with EXPLICIT TAGS (RFC 6960 Appendix B.1), so both alternatives are wrapped.
/// Fleetkey writes `byKey`, which RFC 5019 §2.2.2 recommends; a KeyHash that is not 20 octets is refused.
public enum OCSPResponderID: DERParseable, DERSerializable, Hashable, Sendable {
    case byName(DistinguishedName)
    case byKey([UInt8])

    static let byNameTag = ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific)
    static let byKeyTag = ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific)

    /// The byKey identifier of a responder with this public key.
    public init(keyOf publicKey: Certificate.PublicKey) throws {
        self = .byKey(OCSPHashAlgorithm.sha1.hash(try SubjectPublicKeyBits.bits(of: publicKey)))
    }

    public init(derEncoded node: ASN1Node) throws {
        switch node.identifier {
        case Self.byNameTag:
            self = .byName(
                try DER.explicitlyTagged(node, tagNumber: 1, tagClass: .contextSpecific) {
                    try DistinguishedName(derEncoded: $0)
                })
        case Self.byKeyTag:
            let hash = try DER.explicitlyTagged(node, tagNumber: 2, tagClass: .contextSpecific) {
                try ASN1OctetString(derEncoded: $0)
            }
            guard hash.bytes.count == OCSPHashAlgorithm.sha1.digestLength else {
                throw ASN1Error.invalidASN1Object(reason: "ResponderID KeyHash must be a 20-octet SHA-1 digest")
            }
            self = .byKey(Array(hash.bytes))
        default:
            throw ASN1Error.unexpectedFieldType(node.identifier)
        }
    }

    public func serialize(into coder: inout DER.Serializer) throws {
        switch self {
        case .byName(let name):
            try coder.serialize(name, explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific)
        case .byKey(let hash):
            try coder.serialize(
                ASN1OctetString(contentBytes: hash[...]), explicitlyTaggedWithTagNumber: 2, tagClass: .contextSpecific)
        }
    }
}
