import SwiftASN1

/// What `/.well-known/est/csrattrs` tells a device its request must contain (RFC 7030 §4.5.2):
///
/// ```
/// CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
/// AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }
/// ```
/// Fleetkey answers with the key to make (an id-ecPublicKey attribute naming the curve, as in RFC 7030's own
/// example), the request's signature algorithm, and the TLS key binding attribute (``TLSKeyBinding``).
public struct ESTCSRAttributes: DERImplicitlyTaggable, Sendable, Hashable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The curve of the key a device should make (an OID under RFC 5480 §2.1.1.1).
    public var curve: ASN1ObjectIdentifier
    /// The signature algorithm of the request.
    public var signatureAlgorithm: ASN1ObjectIdentifier
    /// Attributes the request must carry, named by type.
    public var requiredAttributes: [ASN1ObjectIdentifier]

    public init(
        curve: ASN1ObjectIdentifier = FleetkeyOID.secp256r1,
        signatureAlgorithm: ASN1ObjectIdentifier = FleetkeyOID.ecdsaWithSHA256,
        requiredAttributes: [ASN1ObjectIdentifier] = [FleetkeyOID.tlsKeyBinding]
    ) {
        self.curve = curve
        self.signatureAlgorithm = signatureAlgorithm
        self.requiredAttributes = requiredAttributes
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            var curve: ASN1ObjectIdentifier?
            var oids: [ASN1ObjectIdentifier] = []
            while let node = nodes.next() {
                if node.identifier == .objectIdentifier {
                    oids.append(try ASN1ObjectIdentifier(derEncoded: node))
                    continue
                }
                try DER.sequence(node, identifier: .sequence) { attribute in
                    let type = try ASN1ObjectIdentifier(derEncoded: &attribute)
                    let values = try DER.set(of: ASN1ObjectIdentifier.self, identifier: .set, nodes: &attribute)
                    if type == FleetkeyOID.ecPublicKey { curve = values.first }
                }
            }
            guard let curve, let signature = oids.first else {
                throw ASN1Error.invalidASN1Object(reason: "csrattrs without a key curve and a signature algorithm")
            }
            return ESTCSRAttributes(
                curve: curve, signatureAlgorithm: signature, requiredAttributes: Array(oids.dropFirst()))
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try coder.serialize(FleetkeyOID.ecPublicKey)
                try coder.serializeSetOf([curve])
            }
            try coder.serialize(signatureAlgorithm)
            for attribute in requiredAttributes { try coder.serialize(attribute) }
        }
    }

    public func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
