import SwiftASN1

/// An OCSP response, RFC 6960 §4.2.1: what the responder sends back for every request, good or garbage.
///
/// ```
/// OCSPResponse ::= SEQUENCE {
///     responseStatus         OCSPResponseStatus,
///     responseBytes          [0] EXPLICIT ResponseBytes OPTIONAL }
/// ```
/// "If the value of responseStatus is one of the error conditions, the responseBytes field is not set": an
/// error status with a body, or success without one, is refused when read and cannot be built.
public struct OCSPResponse: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public let responseStatus: OCSPResponseStatus
    public let responseBytes: OCSPResponseBytes?

    /// A successful response carrying `bytes`.
    public init(successful bytes: OCSPResponseBytes) {
        self.responseStatus = .successful
        self.responseBytes = bytes
    }

    /// An unsigned error response.
    public init(error status: OCSPResponseStatus) throws {
        guard status != .successful else {
            throw ASN1Error.invalidASN1Object(reason: "a successful OCSP response must carry responseBytes")
        }
        self.responseStatus = status
        self.responseBytes = nil
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        (responseStatus, responseBytes) = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let status = try OCSPResponseStatus(derEncoded: &nodes)
            let bytes = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try OCSPResponseBytes(derEncoded: $0)
            }
            guard (status == .successful) == (bytes != nil) else {
                throw ASN1Error.invalidASN1Object(
                    reason:
                        "OCSP responseBytes must be present exactly when responseStatus is successful "
                        + "(RFC 6960 §4.2.1)"
                )
            }
            return (status, bytes)
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(responseStatus)
            if let responseBytes {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try coder.serialize(responseBytes)
                }
            }
        }
    }

    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
