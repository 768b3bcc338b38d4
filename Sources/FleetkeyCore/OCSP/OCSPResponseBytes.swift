import SwiftASN1

/// The typed body of a successful OCSP response, RFC 6960 §4.2.1.
///
/// ```
/// ResponseBytes ::=       SEQUENCE {
///     responseType   OBJECT IDENTIFIER,
///     response       OCTET STRING }
/// ```
/// For `id-pkix-ocsp-basic` (the only type RFC 6960 defines, and the only one RFC 5019 §2.2.1 lets a client
/// expect) `response` holds the DER of a BasicOCSPResponse.
public struct OCSPResponseBytes: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var responseType: ASN1ObjectIdentifier
    public var response: ArraySlice<UInt8>

    public init(responseType: ASN1ObjectIdentifier, response: ArraySlice<UInt8>) {
        self.responseType = responseType
        self.response = response
    }

    /// Wraps a basic response.
    public init(_ basic: OCSPBasicResponse) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(basic)
        self.init(responseType: FleetkeyOID.ocspBasicResponse, response: serializer.serializedBytes[...])
    }

    /// The basic response inside, or an error when the type is another one.
    public func basicResponse() throws -> OCSPBasicResponse {
        guard responseType == FleetkeyOID.ocspBasicResponse else {
            throw ASN1Error.invalidASN1Object(reason: "OCSP responseType \(responseType) is not id-pkix-ocsp-basic")
        }
        return try OCSPBasicResponse(derEncoded: response)
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let type = try ASN1ObjectIdentifier(derEncoded: &nodes)
            let response = try ASN1OctetString(derEncoded: &nodes)
            return OCSPResponseBytes(responseType: type, response: response.bytes)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(responseType)
            try coder.serialize(ASN1OctetString(contentBytes: response))
        }
    }
}
