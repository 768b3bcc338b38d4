import SwiftASN1
import X509

/// The subject attributes Fleetkey profiles speak of, by their short names.
public enum SubjectAttribute: String, Sendable, CaseIterable {
    case organization = "O"
    case commonName = "CN"
    case serialNumber
    case organizationalUnit = "OU"
    case country = "C"

    public var oid: ASN1ObjectIdentifier {
        switch self {
        case .organization: .RDNAttributeType.organizationName
        case .commonName: .RDNAttributeType.commonName
        case .serialNumber: FleetkeyOID.serialNumberAttribute
        case .organizationalUnit: .RDNAttributeType.organizationalUnitName
        case .country: .RDNAttributeType.countryName
        }
    }

    public init?(oid: ASN1ObjectIdentifier) {
        guard let match = Self.allCases.first(where: { $0.oid == oid }) else { return nil }
        self = match
    }

    /// X.520 and RFC 5280 string types: serialNumber and countryName are PrintableString, others UTF8String.
    func attribute(_ value: String) throws -> RelativeDistinguishedName.Attribute {
        switch self {
        case .serialNumber, .country: try .init(type: oid, printableString: value)
        default: .init(type: oid, utf8String: value)
        }
    }
}

/// A subject as the profiles see it: an ordered list of (attribute, value), one attribute per RDN.
public struct SubjectName: Sendable, Hashable {
    public var attributes: [(SubjectAttribute, String)]

    public init(_ attributes: [(SubjectAttribute, String)]) {
        self.attributes = attributes
    }

    /// Reads a distinguished name, refusing attribute types no profile knows and multi-valued RDNs.
    public init(_ name: DistinguishedName, field: String) throws(FleetkeyError) {
        var attributes: [(SubjectAttribute, String)] = []
        for rdn in name {
            guard rdn.count == 1, let attribute = rdn.first else {
                throw FleetkeyError(.subjectRejected, "\(field): multi-valued RDNs are not allowed by the profile")
            }
            guard let known = SubjectAttribute(oid: attribute.type) else {
                throw FleetkeyError(
                    .subjectRejected,
                    "\(field): attribute \(attribute.type) is not allowed; profiles accept "
                        + SubjectAttribute.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard let text = String(attribute.value) else {
                throw FleetkeyError(.subjectRejected, "\(field): \(known.rawValue) is not a readable string")
            }
            attributes.append((known, text))
        }
        self.attributes = attributes
    }

    public func values(_ attribute: SubjectAttribute) -> [String] {
        attributes.filter { $0.0 == attribute }.map(\.1)
    }

    public func distinguishedName() throws -> DistinguishedName {
        DistinguishedName(try attributes.map { RelativeDistinguishedName(try $0.0.attribute($0.1)) })
    }

    public static func == (lhs: SubjectName, rhs: SubjectName) -> Bool {
        lhs.attributes.elementsEqual(rhs.attributes) { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    public func hash(into hasher: inout Hasher) {
        for (attribute, value) in attributes {
            hasher.combine(attribute)
            hasher.combine(value)
        }
    }
}
