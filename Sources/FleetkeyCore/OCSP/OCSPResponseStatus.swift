import SwiftASN1

/// Whether a responder could answer at all, RFC 6960 §4.2.1 and §2.3.
///
/// ```
/// OCSPResponseStatus ::= ENUMERATED {
///     successful            (0),  -- Response has valid confirmations
///     malformedRequest      (1),  -- Illegal confirmation request
///     internalError         (2),  -- Internal error in issuer
///     tryLater              (3),  -- Try again later
///                                 -- (4) is not used
///     sigRequired           (5),  -- Must sign the request
///     unauthorized          (6)   -- Request unauthorized
/// }
/// ```
/// Every status but `successful` is sent unsigned and without responseBytes, so it says nothing about any
/// certificate; value 4 and unknown values are refused when read.
public enum OCSPResponseStatus: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible, DERImplicitlyTaggable {
    case successful = 0
    case malformedRequest = 1
    case internalError = 2
    case tryLater = 3
    case sigRequired = 5
    case unauthorized = 6

    public static var defaultIdentifier: ASN1Identifier { .enumerated }

    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        let value = try Int(derEncoded: rootNode, withIdentifier: identifier)
        guard let status = OCSPResponseStatus(rawValue: value) else {
            throw ASN1Error.invalidASN1Object(reason: "OCSPResponseStatus \(value) is not defined by RFC 6960 §4.2.1")
        }
        self = status
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try rawValue.serialize(into: &coder, withIdentifier: identifier)
    }

    public var description: String {
        switch self {
        case .successful: "successful"
        case .malformedRequest: "malformedRequest"
        case .internalError: "internalError"
        case .tryLater: "tryLater"
        case .sigRequired: "sigRequired"
        case .unauthorized: "unauthorized"
        }
    }
}
