import Foundation
import SwiftASN1
import X509

/// The identity of a hardware module (secure element, TPM) a key lives in, RFC 4108 §5.
///
/// ```
/// HardwareModuleName ::= SEQUENCE {
///     hwType OBJECT IDENTIFIER,
///     hwSerialNum OCTET STRING }
/// ```
/// Carried in the subjectAltName as an `otherName` with type-id `id-on-hardwareModuleName`, as
/// IEEE 802.1AR device identities do.
public struct HardwareModuleName: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var hardwareType: ASN1ObjectIdentifier
    public var serialNumber: [UInt8]

    public init(hardwareType: ASN1ObjectIdentifier, serialNumber: [UInt8]) {
        self.hardwareType = hardwareType
        self.serialNumber = serialNumber
    }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let hardwareType = try ASN1ObjectIdentifier(derEncoded: &nodes)
            let serial = try ASN1OctetString(derEncoded: &nodes)
            return HardwareModuleName(hardwareType: hardwareType, serialNumber: Array(serial.bytes))
        }
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(hardwareType)
            try coder.serialize(ASN1OctetString(contentBytes: serialNumber[...]))
        }
    }

    /// The subjectAltName entry that carries this name.
    public func generalName() throws -> GeneralName {
        .otherName(GeneralName.OtherName(typeID: FleetkeyOID.hardwareModuleName, value: try ASN1Any(erasing: self)))
    }

    /// Reads a hardwareModuleName from a subjectAltName entry, or `nil` when the entry is another kind of name.
    public init?(_ name: GeneralName) throws {
        guard case .otherName(let other) = name, other.typeID == FleetkeyOID.hardwareModuleName,
            let value = other.value
        else { return nil }
        self = try HardwareModuleName(asn1Any: value)
    }

    /// The serial as text when it is printable, else as hex: what a person reads.
    public var serialText: String {
        if let text = String(bytes: serialNumber, encoding: .ascii),
            text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F })
        {
            return text
        }
        return Hex.upper(serialNumber)
    }
}
