import SwiftASN1
import X509

/// The `[n] EXPLICIT Extensions` fields of OCSP messages (RFC 6960 §4.1.1 and §4.2.1), read and written the same
/// way everywhere.
///
/// ```
/// Extensions  ::=  SEQUENCE SIZE (1..MAX) OF Extension     -- RFC 5280 §4.1
/// ```
/// An empty list, a repeated extension OID (RFC 5280 §4.2) or more than 32 extensions (swift-certificates'
/// guard against decoding floods) is refused.
enum OCSPExtensionsField {
    static func parse(
        _ nodes: inout ASN1NodeCollection.Iterator, tagNumber: UInt
    ) throws -> Certificate.Extensions? {
        try DER.optionalExplicitlyTagged(&nodes, tagNumber: tagNumber, tagClass: .contextSpecific) { node in
            let list = try DER.sequence(of: Certificate.Extension.self, identifier: .sequence, rootNode: node)
            guard !list.isEmpty else {
                throw ASN1Error.invalidASN1Object(reason: "Extensions must hold at least one extension (SIZE (1..MAX))")
            }
            return try Certificate.Extensions(list)
        }
    }

    static func serialize(
        _ extensions: Certificate.Extensions?, into coder: inout DER.Serializer, tagNumber: UInt
    ) throws {
        guard let extensions, !extensions.isEmpty else { return }
        try coder.serialize(explicitlyTaggedWithTagNumber: tagNumber, tagClass: .contextSpecific) { coder in
            try coder.serializeSequenceOf(extensions)
        }
    }
}
