import SwiftASN1

/// What a responder says about one certificate, RFC 6960 §4.2.1 and §2.2.
///
/// ```
/// CertStatus ::= CHOICE {
///     good        [0]     IMPLICIT NULL,
///     revoked     [1]     IMPLICIT RevokedInfo,
///     unknown     [2]     IMPLICIT UnknownInfo }
///
/// UnknownInfo ::= NULL
/// ```
/// `good` only means "not revoked"; Fleetkey's responder says it only for serials its registry knows it issued
/// (RFC 6960 §2.2 allows more, RFC 5019 and CA/Browser Forum practice do not), and `unknown` otherwise.
public enum OCSPCertStatus: DERParseable, DERSerializable, Hashable, Sendable {
    case good
    case revoked(OCSPRevokedInfo)
    case unknown

    static let goodTag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
    static let revokedTag = ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific)
    static let unknownTag = ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific)

    public init(derEncoded node: ASN1Node) throws {
        switch node.identifier {
        case Self.goodTag:
            _ = try ASN1Null(derEncoded: node, withIdentifier: Self.goodTag)
            self = .good
        case Self.revokedTag:
            self = .revoked(try OCSPRevokedInfo(derEncoded: node, withIdentifier: Self.revokedTag))
        case Self.unknownTag:
            _ = try ASN1Null(derEncoded: node, withIdentifier: Self.unknownTag)
            self = .unknown
        default:
            throw ASN1Error.unexpectedFieldType(node.identifier)
        }
    }

    public func serialize(into coder: inout DER.Serializer) throws {
        switch self {
        case .good: ASN1Null().serialize(into: &coder, withIdentifier: Self.goodTag)
        case .revoked(let info): try info.serialize(into: &coder, withIdentifier: Self.revokedTag)
        case .unknown: ASN1Null().serialize(into: &coder, withIdentifier: Self.unknownTag)
        }
    }
}
