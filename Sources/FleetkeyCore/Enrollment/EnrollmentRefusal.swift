/// Why an EST request was refused: the rule that failed, how an HTTP server answers it, and one line for the
/// device's operator.
///
/// Every refusal is recorded as an `enrollment.refused` event with the rule, the device when known, and the
/// peer's address (``DeviceEnrollment``); nothing else changes, except that a suspected clone suspends its device.
public struct EnrollmentRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// How the refusal is answered (RFC 7030 §4.2.3: 401 without acceptable authentication, 403 when authenticated
    /// but not allowed, 400 for a body that is not a well-formed request).
    public enum Answer: Sendable, Hashable {
        case unauthenticated
        case forbidden
        case malformed
        /// Not the device's fault and likely to pass (its status could not be learned): 503 with Retry-After, so a
        /// device tries again later instead of giving up.
        case unavailable
    }

    /// The rule, as a short stable name: what the event log and metrics count by.
    public enum Rule: String, Sendable, Hashable, CaseIterable {
        /// No client certificate was presented.
        case clientCertificate = "client-certificate"
        /// The client certificate does not chain to the ecosystem trust anchor (or, re-enrolling, the domain CA).
        case chain
        /// The client certificate is revoked (403), or its status could not be established now (503).
        case status
        /// The device is in none of this owner's imported manifests.
        case manifest
        /// The device's lifecycle state does not allow this request.
        case state
        /// The presented IDevID is not byte for byte the certificate the manifest carried.
        case identity
        /// The request is malformed, or its signature does not verify.
        case request
        /// The request's subject does not name the authenticated device.
        case subject
        /// The request reuses the IDevID key or a key the registry already knows.
        case keyReuse = "key-reuse"
        /// The request carries no TLS key binding, or one the authenticating key did not make.
        case binding
        /// The presented LDevID has expired (or is not yet valid).
        case expired
        /// A second first-enrollment of one factory identity with another key: a suspected clone.
        case clone
    }

    public var rule: Rule
    public var answer: Answer
    /// One line, for the HTTP answer and the event log; never a secret.
    public var reason: String

    public init(_ rule: Rule, _ answer: Answer, _ reason: String) {
        self.rule = rule
        self.answer = answer
        self.reason = reason
    }

    public var description: String { "\(rule.rawValue): \(reason)" }
}
