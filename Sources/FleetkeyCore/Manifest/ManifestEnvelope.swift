import SwiftASN1

/// Reads the encapsulated content out of a CMS SignedData (RFC 5652 §5.1–5.2) without trusting it: the signature
/// is checked separately, over exactly these bytes.
///
/// ```
/// ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
/// SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo EncapsulatedContentInfo, ... }
/// EncapsulatedContentInfo ::= SEQUENCE { eContentType id-data, eContent [0] EXPLICIT OCTET STRING OPTIONAL }
/// ```
/// Fleetkey writes DER (definite lengths, one primitive OCTET STRING), and reads only that.
enum ManifestEnvelope {
    static let signedDataOID: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 2]
    static let dataOID: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 1]

    static func content(of bytes: [UInt8]) throws -> [UInt8] {
        do {
            let root = try DER.parse(bytes)
            return try DER.sequence(root, identifier: .sequence) { nodes in
                guard try ASN1ObjectIdentifier(derEncoded: &nodes) == signedDataOID else {
                    throw ASN1Error.invalidASN1Object(reason: "the ContentInfo is not id-signedData")
                }
                return try DER.explicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { signedData in
                    try DER.sequence(signedData, identifier: .sequence) { fields in
                        _ = try Int(derEncoded: &fields)
                        guard let algorithms = fields.next(), algorithms.identifier == .set else {
                            throw ASN1Error.invalidASN1Object(reason: "SignedData has no digestAlgorithms")
                        }
                        guard let encapsulated = fields.next() else {
                            throw ASN1Error.invalidASN1Object(reason: "SignedData has no encapContentInfo")
                        }
                        // certificates, crls and signerInfos follow; the signature check reads them.
                        while fields.next() != nil {}
                        return try DER.sequence(encapsulated, identifier: .sequence) { inner in
                            guard try ASN1ObjectIdentifier(derEncoded: &inner) == dataOID else {
                                throw ASN1Error.invalidASN1Object(reason: "the encapsulated content is not id-data")
                            }
                            guard
                                let content = try DER.optionalExplicitlyTagged(
                                    &inner, tagNumber: 0, tagClass: .contextSpecific,
                                    { try ASN1OctetString(derEncoded: $0) })
                            else {
                                throw ASN1Error.invalidASN1Object(
                                    reason: "the signature is detached: a manifest carries its content")
                            }
                            return Array(content.bytes)
                        }
                    }
                }
            }
        } catch {
            throw FleetkeyError(
                .manifestRejected,
                "the file is not a DER CMS SignedData manifest (RFC 5652): \(error); nothing was imported")
        }
    }
}
