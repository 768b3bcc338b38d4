/// The pre-signed answers, bounded by a number of entries: the state the responder keeps behind its lock.
///
/// Two generations approximate least-recently-used at O(1) per operation: answers are inserted into `current`;
/// when it holds half the capacity it becomes `previous` and the old `previous` is dropped whole. A hit in
/// `previous` moves the answer back to `current`. So at most `capacity` answers are held, an answer asked for at
/// least once per half-capacity of insertions stays, and eviction never walks the table.
///
/// Memory bound: at most `capacity` answers, each a table slot (24-byte key, 32-byte entry, at a load factor of
/// at most 3/4) plus its signed body in its own array. For a P-256 responder, a SHA-1 CertID and a 16-octet
/// serial the body is 247 octets and an answer measured 416 bytes of resident memory (2^20 answers: 436 MB);
/// an RSA-2048 responder adds 184 octets of signature. So the default 2^20 answers stay under about 450 MB
/// whatever the fleet's size, and ``OCSPResponderConfiguration/cacheCapacity`` scales the bound linearly. The
/// generation being dropped is handed back to the caller to free outside the lock.
struct OCSPResponseCache: Sendable {
    struct Entry: Sendable {
        /// tbsResponseData, signatureAlgorithm and signature, DER (see ``OCSPResponseWire``).
        var body: [UInt8]
        var producedAt: Int64
        var nextUpdate: Int64
        /// Identifies this signing of the entry, so a refresh replaces only the answer it re-signed.
        var stamp: UInt64
    }

    let capacity: Int
    private var current: [OCSPCacheKey: Entry] = [:]
    private var previous: [OCSPCacheKey: Entry] = [:]
    /// Bumped by every invalidation: an answer signed from a status read before the bump is not cached.
    private(set) var invalidationEpoch: UInt64 = 0
    private var nextStamp: UInt64 = 0
    private(set) var hits = 0
    private(set) var misses = 0
    private(set) var evictions = 0

    init(capacity: Int) {
        self.capacity = max(2, capacity)
    }

    var count: Int { current.count + previous.count }

    /// The answer for `key` that is still valid at `now`, counted as a hit or a miss.
    mutating func lookup(_ key: OCSPCacheKey, now: Int64) -> (entry: Entry?, dropped: [OCSPCacheKey: Entry]?) {
        if let entry = current[key], entry.nextUpdate > now {
            hits += 1
            return (entry, nil)
        }
        if let entry = previous[key], entry.nextUpdate > now {
            hits += 1
            previous.removeValue(forKey: key)
            return (entry, store(key, entry))
        }
        misses += 1
        return (nil, nil)
    }

    /// Caches a freshly signed answer unless an invalidation happened since its status was read.
    mutating func insert(
        _ key: OCSPCacheKey, body: [UInt8], producedAt: Int64, nextUpdate: Int64, readAtEpoch epoch: UInt64
    ) -> [OCSPCacheKey: Entry]? {
        guard epoch == invalidationEpoch else { return nil }
        previous.removeValue(forKey: key)
        nextStamp += 1
        return store(key, Entry(body: body, producedAt: producedAt, nextUpdate: nextUpdate, stamp: nextStamp))
    }

    /// Replaces the answer a refresh re-signed, only if it is still the one cached under `key`.
    mutating func replace(_ key: OCSPCacheKey, stamp: UInt64, body: [UInt8], producedAt: Int64, nextUpdate: Int64)
        -> Bool
    {
        nextStamp += 1
        let entry = Entry(body: body, producedAt: producedAt, nextUpdate: nextUpdate, stamp: nextStamp)
        if current[key]?.stamp == stamp {
            current[key] = entry
            return true
        }
        if previous[key]?.stamp == stamp {
            previous[key] = entry
            return true
        }
        return false
    }

    /// Drops the answer a refresh found to be no longer answerable from the cache.
    mutating func remove(_ key: OCSPCacheKey, stamp: UInt64) {
        if current[key]?.stamp == stamp { current.removeValue(forKey: key) }
        if previous[key]?.stamp == stamp { previous.removeValue(forKey: key) }
    }

    /// The answers whose nextUpdate falls at or before `deadline`, at most `limit` of them.
    func expiring(by deadline: Int64, limit: Int) -> [(key: OCSPCacheKey, stamp: UInt64)] {
        var due: [(key: OCSPCacheKey, stamp: UInt64)] = []
        for generation in [current, previous] {
            for (key, entry) in generation where entry.nextUpdate <= deadline {
                guard due.count < limit else { return due }
                due.append((key, entry.stamp))
            }
        }
        return due
    }

    /// Drops every answer about one serial of one CA.
    mutating func invalidate(issuer: UInt16, serial: some Collection<UInt8>) {
        invalidationEpoch += 1
        for variant in OCSPCacheKey.allVariants {
            let key = OCSPCacheKey(issuer: issuer, variant: variant, serial: serial)
            current.removeValue(forKey: key)
            previous.removeValue(forKey: key)
        }
    }

    /// Drops every answer about one CA; returns the old tables to free outside the lock.
    mutating func invalidate(issuer: UInt16) -> [[OCSPCacheKey: Entry]] {
        invalidationEpoch += 1
        let old = [current, previous]
        current = current.filter { $0.key.issuer != issuer }
        previous = previous.filter { $0.key.issuer != issuer }
        return old
    }

    private mutating func store(_ key: OCSPCacheKey, _ entry: Entry) -> [OCSPCacheKey: Entry]? {
        var dropped: [OCSPCacheKey: Entry]?
        if current[key] == nil, current.count >= capacity / 2 {
            evictions += previous.count
            dropped = previous
            previous = current
            current = [:]
        }
        current[key] = entry
        return dropped
    }
}
