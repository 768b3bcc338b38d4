import Foundation

/// The facts of one revocation: what a CRL entry (RFC 5280 §5.1.2.6, §5.3) and an OCSP RevokedInfo
/// (RFC 6960 §4.2.1) say about it.
public struct RevocationInfo: Hashable, Sendable {
    public var revokedAt: Date
    public var reason: RevocationReason
    /// When the key is known or suspected to have been compromised, if earlier than `revokedAt` (§5.3.2).
    public var invalidityDate: Date?

    public init(revokedAt: Date, reason: RevocationReason, invalidityDate: Date? = nil) {
        self.revokedAt = Date(timeIntervalSince1970: revokedAt.timeIntervalSince1970.rounded(.down))
        self.reason = reason
        self.invalidityDate = invalidityDate.map {
            Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down))
        }
    }
}
