import Foundation

/// The registry's side of running a fleet: certificates by expiry, and webhook deliveries.
///
/// Kept apart from ``RegistryStore`` so a store gains it as one capability. Writes are single transactions.
public protocol FleetOperationsStore: Sendable {
    /// Valid certificates whose notAfter lies in `window`, soonest first (the `certificates_by_not_after` index).
    func expiringCertificates(in window: ClosedRange<Date>, limit: Int?) async throws -> [ExpiringCertificate]
    /// How many valid certificates `issuer` signed whose notAfter is `date` or later.
    func validCertificateCount(issuer: String, notAfterAtOrAfter date: Date) async throws -> Int

    /// Adds deliveries not already known by their idempotency key; returns how many were new.
    func enqueue(_ deliveries: [WebhookDelivery]) async throws -> Int
    /// Pending deliveries whose next attempt is due at `date`, soonest first.
    func dueDeliveries(at date: Date, limit: Int) async throws -> [WebhookDelivery]
    /// Records one attempt: delivered, or failed with the error and when to try again.
    func recordAttempt(_ key: String, outcome: WebhookDelivery.Attempt) async throws
    /// Every delivery of an endpoint, for operators and tests: attempts, errors and state.
    func deliveries(limit: Int) async throws -> [WebhookDelivery]
}

/// A certificate as the expiry report sees it: no DER.
public struct ExpiringCertificate: Sendable, Hashable {
    public var issuer: String
    public var serial: String
    public var profile: String
    public var subject: String
    public var notBefore: Date
    public var notAfter: Date
    public var device: DeviceID?
    /// The device's lot and owner, from its record; `nil` for a CA's or a delegated signer's certificate.
    public var lot: String?
    public var owner: String?

    public init(
        issuer: String, serial: String, profile: String, subject: String, notBefore: Date, notAfter: Date,
        device: DeviceID?, lot: String? = nil, owner: String? = nil
    ) {
        self.lot = lot
        self.owner = owner
        self.issuer = issuer
        self.serial = serial
        self.profile = profile
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.device = device
    }
}

/// One webhook notice and where it stands.
public struct WebhookDelivery: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, CaseIterable {
        case pending
        case delivered
    }

    public enum Attempt: Sendable, Hashable {
        case delivered(at: Date)
        case failed(at: Date, error: String, retryAt: Date)
    }

    /// The notice's identity, sent as `Idempotency-Key`: the same notice is never queued twice.
    public var idempotencyKey: String
    public var endpoint: String
    /// The JSON body, signed when sent.
    public var body: [UInt8]
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?

    public init(
        idempotencyKey: String, endpoint: String, body: [UInt8], state: State, attempts: Int, nextAttemptAt: Date,
        lastError: String?, createdAt: Date, deliveredAt: Date?
    ) {
        self.idempotencyKey = idempotencyKey
        self.endpoint = endpoint
        self.body = body
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
    }
}

/// A registry that can run a fleet: everything enrollment needs, access control, and fleet operations.
public typealias FleetRegistry = EnrollmentRegistry & AccessStore & FleetOperationsStore
