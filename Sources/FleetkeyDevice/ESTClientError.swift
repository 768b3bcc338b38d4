/// Why an EST operation did not give the device a certificate, and whether trying again can help.
public enum ESTClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server refused the request (401, 403, 400, 415, 501): trying the same again will not help.
    case refused(status: Int, reason: String)
    /// The owner's approval is pending (202, RFC 7030 §4.2.3): try again after this many seconds.
    case pending(retryAfterSeconds: Int)
    /// The server failed or is overloaded (5xx, 429): try again later, after Retry-After when it gave one.
    case unavailable(status: Int, retryAfterSeconds: Int?)
    /// The connection, TLS or the answer's transfer failed: try again later.
    case transport(String)
    /// The server or its CA is not the one the device was told to trust: never retried, never trusted on first use.
    case untrusted(String)
    /// The server answered something that is not EST.
    case malformedAnswer(String)

    /// Whether the agent tries again (with backoff) after this error.
    public var isRetryable: Bool {
        switch self {
        case .pending, .unavailable, .transport: true
        case .refused, .untrusted, .malformedAnswer: false
        }
    }

    /// A short stable name, for counting errors by kind.
    public var kind: String {
        switch self {
        case .refused(let status, _): "refused-\(status)"
        case .pending: "pending"
        case .unavailable(let status, _): "unavailable-\(status)"
        case .transport: "transport"
        case .untrusted: "untrusted"
        case .malformedAnswer: "malformed-answer"
        }
    }

    public var description: String {
        switch self {
        case .refused(let status, let reason): "the EST server refused the request (\(status)): \(reason)"
        case .pending(let seconds): "the enrollment awaits the owner's approval; retry in \(seconds) s"
        case .unavailable(let status, _): "the EST server is unavailable (\(status)); retry later"
        case .transport(let what): what
        case .untrusted(let what): what
        case .malformedAnswer(let what): "the EST server's answer is malformed: \(what)"
        }
    }
}
