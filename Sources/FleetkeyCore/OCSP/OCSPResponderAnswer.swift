import Foundation

/// What the responder hands the HTTP layer: the DER to send, and what it needs to set the headers of
/// RFC 5019 §6.2 (Last-Modified, Expires, Cache-Control max-age) and to count the answer.
public struct OCSPResponderAnswer: Sendable, Hashable {
    /// The DER OCSPResponse; the body of an `application/ocsp-response` reply, with HTTP 200 whatever its status.
    public let der: [UInt8]
    public let responseStatus: OCSPResponseStatus
    /// When the answer was signed; `nil` for an unsigned error.
    public let producedAt: Date?
    /// The earliest nextUpdate of the answer's responses: an HTTP cache may keep it until then. `nil` for errors.
    public let nextUpdate: Date?
    /// Whether the answer came pre-signed from the cache (no signature was made for this request).
    public let servedFromCache: Bool
    /// Whether the answer echoes a request nonce; such an answer is for one requester and must not be cached
    /// by HTTP caches.
    public let echoesNonce: Bool

    static func error(_ status: OCSPResponseStatus) -> OCSPResponderAnswer {
        OCSPResponderAnswer(
            der: OCSPResponseWire.error(status), responseStatus: status, producedAt: nil, nextUpdate: nil,
            servedFromCache: false, echoesNonce: false)
    }
}
