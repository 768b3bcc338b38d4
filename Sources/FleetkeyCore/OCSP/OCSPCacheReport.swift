/// What one pass of cache upkeep did (``OCSPResponder/refreshExpiring(within:limit:)``,
/// ``OCSPResponder/presign(issuer:serials:hashAlgorithms:)``), for the background service's logs and metrics.
public struct OCSPCacheReport: Sendable, Hashable {
    /// Answers signed and cached.
    public var signed = 0
    /// Answers dropped: the status source no longer knows the serial, or it was invalidated meanwhile.
    public var dropped = 0
    /// Answers left as they were because the status source or the signing key failed; they expire on their own.
    public var failed = 0

    public init() {}
}

/// The cache's size and traffic, for metrics.
public struct OCSPCacheStatistics: Sendable, Hashable {
    public var entries: Int
    public var capacity: Int
    public var hits: Int
    public var misses: Int
    /// Answers dropped by the size bound.
    public var evictions: Int
}
