import Foundation

/// How an ``OCSPResponder`` answers: how long answers are valid, how many it keeps signed, what it refuses.
public struct OCSPResponderConfiguration: Sendable, Hashable {
    /// nextUpdate − thisUpdate of every answer, in seconds. RFC 5019 §6.2 has HTTP caches keep an answer until
    /// its nextUpdate, so this is also the longest a relying party behind a cache may see a stale status —
    /// which is why revocation invalidates the responder's own cache at once.
    public var validity: TimeInterval
    /// How many pre-signed answers the cache holds at most: its memory bound, about 420 bytes per answer for a
    /// P-256 responder (436 MB measured for the default 2^20; RSA-2048 adds 184 bytes per answer).
    public var cacheCapacity: Int
    /// The most certificates one request may ask about; more is refused as malformedRequest.
    public var maximumRequestsPerMessage: Int
    /// The largest request accepted, in octets; a larger one is refused as malformedRequest before parsing.
    public var maximumRequestSize: Int

    public init(
        validity: TimeInterval = 3600, cacheCapacity: Int = 1 << 20, maximumRequestsPerMessage: Int = 64,
        maximumRequestSize: Int = 65_536
    ) {
        self.validity = validity
        self.cacheCapacity = cacheCapacity
        self.maximumRequestsPerMessage = maximumRequestsPerMessage
        self.maximumRequestSize = maximumRequestSize
    }
}
