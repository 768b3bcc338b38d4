import FleetkeyCore

/// What the server does for a stranger, bounded: how long a connection may idle or take to send a request, how many
/// connections it holds, how large a request body may be, and how many signatures one client may have made for it.
///
/// Every public route is reachable by anyone on the internet; these bounds keep a slow, large or busy client from
/// holding sockets, memory or signing time that relying parties need.
package struct ServerLimits: Sendable, Hashable {
    /// A connection with no request in progress is closed after this many seconds.
    package var idleTimeoutSeconds: Int
    /// A request, head and body, must be read within this many seconds of its first byte (of the connection's
    /// opening, for the first request on a connection, so it also bounds the TLS handshake).
    package var headerTimeoutSeconds: Int
    /// Connections held at once; more wait in the kernel's accept queue until one closes.
    package var maximumConnections: Int
    /// The largest request body any route reads, in octets; a connection that sends more is closed, so nothing
    /// beyond it is ever read. Each route has its own, smaller cap (answered 413 Content Too Large).
    package var maximumBodyBytes: Int
    /// Signatures one client (an IPv4 address, or an IPv6 /64) may have made on demand per second, on average:
    /// OCSP cache misses, nonces and multi-certificate requests, deny-list deltas not yet cached.
    package var signaturesPerClientPerSecond: Double
    /// How many such signatures a client may use at once before the rate applies.
    package var signatureBurstPerClient: Int

    package init(
        idleTimeoutSeconds: Int = 60, headerTimeoutSeconds: Int = 10, maximumConnections: Int = 1024,
        maximumBodyBytes: Int = 64 * 1024, signaturesPerClientPerSecond: Double = 20, signatureBurstPerClient: Int = 100
    ) {
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.headerTimeoutSeconds = headerTimeoutSeconds
        self.maximumConnections = maximumConnections
        self.maximumBodyBytes = maximumBodyBytes
        self.signaturesPerClientPerSecond = signaturesPerClientPerSecond
        self.signatureBurstPerClient = signatureBurstPerClient
    }

    /// Refuses limits that would make the server unusable or unbounded, naming the option.
    package func validate() throws {
        func require(_ holds: Bool, _ option: String, _ rule: String) throws {
            guard holds else { throw FleetkeyError(.invalidArgument, "\(option) \(rule)") }
        }
        try require((1...86_400).contains(idleTimeoutSeconds), "--idle-timeout", "must be 1 to 86400 seconds")
        try require((1...3_600).contains(headerTimeoutSeconds), "--header-timeout", "must be 1 to 3600 seconds")
        try require((1...1_000_000).contains(maximumConnections), "--max-connections", "must be 1 to 1000000")
        try require(maximumBodyBytes >= RouteBodyLimits.ocspRequest, "maximum body", "must hold an OCSP request")
        try require(
            signaturesPerClientPerSecond.isFinite && signaturesPerClientPerSecond > 0, "--client-signature-rate",
            "must be a positive number of signatures per second")
        try require(signatureBurstPerClient >= 1, "--client-signature-burst", "must be 1 or more")
    }
}

/// The request body each route accepts, in octets.
enum RouteBodyLimits {
    /// RFC 5019 §5: an OCSP request is small (one CertID is about 100 octets; 64 with a nonce stay under 8 KiB).
    static let ocspRequest = 16 * 1024
    /// GET routes read no body.
    static let none = 0
}
