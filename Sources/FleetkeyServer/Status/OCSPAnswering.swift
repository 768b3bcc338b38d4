import FleetkeyCore
import Foundation

/// What the OCSP routes need from a responder: DER in, an answer out, and cache upkeep on revocation.
///
/// The core's ``OCSPResponder`` conforms; the HTTP layer knows nothing of how answers are made.
package protocol OCSPAnswering: Sendable {
    /// The answer for a DER OCSPRequest; never throws (errors become OCSP error statuses, RFC 6960 §2.3).
    func respond(to request: [UInt8]) async -> OCSPResponderAnswer
    /// The answer for a DER OCSPRequest, asking `allowingFreshSignature` before any signature made for this request
    /// alone (a cache miss, a nonce, several CertIDs); refused, a nonce is ignored and anything else is `tryLater`.
    func respond(to request: [UInt8], allowingFreshSignature: () -> Bool) async -> OCSPResponderAnswer
    /// Forgets any cached answer for this certificate, so the next answer reflects its new status.
    func invalidate(issuer: String, serial: [UInt8]) async
    /// Re-signs cached answers that expire within `seconds`, so answering stays signature-free.
    func refreshCache(expiringWithin seconds: TimeInterval) async
}

extension OCSPResponder: OCSPAnswering {
    package func refreshCache(expiringWithin seconds: TimeInterval) async {
        _ = await refreshExpiring(within: seconds)
    }
}
