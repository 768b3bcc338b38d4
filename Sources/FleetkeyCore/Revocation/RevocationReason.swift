import Foundation

/// Why a certificate was revoked: the CRLReason codes of RFC 5280 §5.3.1, also used by OCSP (RFC 6960 §4.2.1).
///
/// ```
/// CRLReason ::= ENUMERATED {
///      unspecified             (0),  keyCompromise           (1),  cACompromise            (2),
///      affiliationChanged      (3),  superseded              (4),  cessationOfOperation    (5),
///      certificateHold         (6),  -- value 7 is not used
///      removeFromCRL           (8),  privilegeWithdrawn      (9),  aACompromise           (10) }
/// ```
/// `removeFromCRL` only appears in delta CRLs and is not accepted for a revocation.
public enum RevocationReason: Int, Sendable, Codable, Hashable, CaseIterable, CustomStringConvertible {
    case unspecified = 0
    case keyCompromise = 1
    case cACompromise = 2
    case affiliationChanged = 3
    case superseded = 4
    case cessationOfOperation = 5
    case certificateHold = 6
    case removeFromCRL = 8
    case privilegeWithdrawn = 9
    case aACompromise = 10

    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .keyCompromise: "keyCompromise"
        case .cACompromise: "cACompromise"
        case .affiliationChanged: "affiliationChanged"
        case .superseded: "superseded"
        case .cessationOfOperation: "cessationOfOperation"
        case .certificateHold: "certificateHold"
        case .removeFromCRL: "removeFromCRL"
        case .privilegeWithdrawn: "privilegeWithdrawn"
        case .aACompromise: "aACompromise"
        }
    }

    public var description: String { name }

    /// Parses a reason by its RFC 5280 name (case-insensitive, dashes allowed) or its code.
    public init(parsing text: String) throws(FleetkeyError) {
        let key = text.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
        if let code = Int(text), let reason = RevocationReason(rawValue: code) {
            self = reason
        } else if let reason = Self.allCases.first(where: { $0.name.lowercased() == key }) {
            self = reason
        } else {
            throw FleetkeyError(
                .invalidArgument,
                "'\(text)' is not an RFC 5280 reason code; use one of "
                    + Self.allCases.filter { $0 != .removeFromCRL }.map(\.name).joined(separator: ", "))
        }
        guard self != .removeFromCRL else {
            throw FleetkeyError(.invalidArgument, "removeFromCRL is only for delta CRLs, not a reason to revoke")
        }
    }
}
