/// How devices enroll over EST (RFC 7030) in an owner's registry: the `enrollment` section of `policy.json`.
public struct EnrollmentPolicy: Codable, Sendable, Hashable {
    /// `true`: a device's first enrollment waits for `fleetkey device commission SERIAL` and is answered 202 with
    /// Retry-After until then (RFC 7030 §4.2.3). `false`: zero-touch, a device that passes every check is
    /// commissioned by its first enrollment.
    public var requireApproval: Bool
    /// The Retry-After, in seconds, of a 202 answer.
    public var retryAfterSeconds: Int
    /// When a device renews: after this fraction of its LDevID's lifetime (0.5 to 0.9), plus random jitter.
    public var renewAtFraction: Double
    /// The jitter's size, as a fraction of the lifetime (0 to 0.2), so a fleet enrolled at once does not renew at once.
    public var renewJitterFraction: Double

    public init(requireApproval: Bool, retryAfterSeconds: Int, renewAtFraction: Double, renewJitterFraction: Double) {
        self.requireApproval = requireApproval
        self.retryAfterSeconds = retryAfterSeconds
        self.renewAtFraction = renewAtFraction
        self.renewJitterFraction = renewJitterFraction
    }

    public static let `default` = EnrollmentPolicy(
        requireApproval: false, retryAfterSeconds: 30, renewAtFraction: 0.66, renewJitterFraction: 0.1)

    /// Refuses values a device could not act on, naming the field.
    public func validate() throws {
        guard (1...86_400).contains(retryAfterSeconds) else {
            throw FleetkeyError(.configuration, "policy.json: enrollment.retryAfterSeconds must be 1 to 86400")
        }
        guard (0.5...0.9).contains(renewAtFraction) else {
            throw FleetkeyError(.configuration, "policy.json: enrollment.renewAtFraction must be 0.5 to 0.9")
        }
        guard (0...0.2).contains(renewJitterFraction) else {
            throw FleetkeyError(.configuration, "policy.json: enrollment.renewJitterFraction must be 0 to 0.2")
        }
    }
}
