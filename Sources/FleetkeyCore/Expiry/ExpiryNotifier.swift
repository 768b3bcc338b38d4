import Crypto
import Foundation

/// Sends a webhook: what the notifier needs of HTTP. The adapter posts `body` with `headers` and returns the
/// response's status; it throws when no answer came (refused, timed out).
public protocol WebhookTransport: Sendable {
    func post(_ url: String, body: [UInt8], headers: [(String, String)]) async throws -> Int
}

/// Expiry notices by webhook: which certificates crossed a threshold, and delivering what is queued.
///
/// Each notice is queued once, by an idempotency key derived from the endpoint, the certificate and the threshold,
/// in the registry (``FleetOperationsStore/enqueue(_:)``), before anything is sent. A restarted server therefore
/// finds what was queued and not yet delivered (nothing is lost), and cannot queue a notice again (nothing is
/// repeated). A delivery is recorded as delivered only after a 2xx answer; a receiver that answered but whose
/// answer was lost in a crash gets the notice again with the same `Idempotency-Key`, and drops it.
///
/// A certificate is notified at threshold T once less than T is left, and only when its whole lifetime is longer
/// than T: a 30-day operational certificate is not "30 days from expiry" the moment it is issued. When the server
/// was down across several thresholds, only the most urgent one crossed is sent.
public struct ExpiryNotifier: Sendable {
    public let store: any FleetOperationsStore
    public let clock: any WallClock
    public let transport: any WebhookTransport
    public let endpoints: [WebhookSchedule]

    public init(
        store: any FleetOperationsStore, clock: any WallClock, transport: any WebhookTransport,
        endpoints: [WebhookSchedule]
    ) {
        self.store = store
        self.clock = clock
        self.transport = transport
        self.endpoints = endpoints
    }

    /// The most notices one scan queues, and one delivery round sends.
    public static let batch = 1_000

    /// Queues the notices due now for `endpoint`; returns how many were new.
    public func scan(_ endpoint: WebhookSchedule) async throws -> Int {
        guard let longest = endpoint.thresholds.first else { return 0 }
        let now = clock.now()
        let expiring = try await store.expiringCertificates(in: now...now.addingTimeInterval(longest), limit: nil)
        var notices: [WebhookDelivery] = []
        for certificate in expiring {
            let left = certificate.notAfter.timeIntervalSince(now)
            let lifetime = certificate.notAfter.timeIntervalSince(certificate.notBefore)
            // Thresholds are longest first: the last one crossed is the most urgent.
            guard let threshold = endpoint.thresholds.last(where: { left <= $0 && lifetime > $0 }) else { continue }
            notices.append(try Self.notice(certificate, threshold: threshold, endpoint: endpoint, now: now))
        }
        var queued = 0
        for start in stride(from: 0, to: notices.count, by: Self.batch) {
            queued += try await store.enqueue(Array(notices[start..<min(start + Self.batch, notices.count)]))
        }
        return queued
    }

    /// What one round of deliveries did.
    public struct Round: Sendable, Hashable {
        public var delivered = 0
        public var failed: [String] = []
    }

    /// Sends every queued notice that is due, oldest first, and records each outcome.
    public func deliverDue() async throws -> Round {
        var round = Round()
        let byName = Dictionary(endpoints.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for delivery in try await store.dueDeliveries(at: clock.now(), limit: Self.batch) {
            guard let endpoint = byName[delivery.endpoint] else {
                // Queued for an endpoint since removed from fleetkey.json: kept pending, on record, not sent.
                continue
            }
            let sentAt = clock.now()
            var headers = endpoint.signatureHeaders(body: delivery.body, timestamp: sentAt)
            headers += [("Content-Type", "application/json"), ("Idempotency-Key", delivery.idempotencyKey)]
            let failure: String?
            do {
                let status = try await transport.post(endpoint.url, body: delivery.body, headers: headers)
                failure = (200..<300).contains(status) ? nil : "HTTP \(status)"
            } catch let error as FleetkeyError {
                failure = error.reason
            } catch {
                failure = "\(error)"
            }
            if let failure {
                let retryAt = clock.now().addingTimeInterval(
                    endpoint.retryDelay(afterFailedAttempts: delivery.attempts + 1))
                try await store.recordAttempt(
                    delivery.idempotencyKey, outcome: .failed(at: sentAt, error: failure, retryAt: retryAt))
                round.failed.append("\(delivery.idempotencyKey): \(failure)")
            } else {
                try await store.recordAttempt(delivery.idempotencyKey, outcome: .delivered(at: clock.now()))
                round.delivered += 1
            }
        }
        return round
    }

    /// The notice for `certificate` at `threshold`: its key, and a JSON body with sorted keys.
    static func notice(
        _ certificate: ExpiringCertificate, threshold: TimeInterval, endpoint: WebhookSchedule, now: Date
    ) throws -> WebhookDelivery {
        let thresholdText = Self.durationText(threshold)
        let key = Hex.lower(
            SHA256.hash(
                data: Array(
                    "fleetkey-expiry-v1\0\(endpoint.name)\0\(certificate.issuer)\0\(certificate.serial)\0\(thresholdText)"
                        .utf8)))
        let body = Notice(
            type: "certificate.expiring", idempotencyKey: key, threshold: thresholdText,
            issuer: certificate.issuer, serial: certificate.serial, subject: certificate.subject,
            profile: certificate.profile, device: certificate.device.map { "\($0)" },
            notAfter: certificate.notAfter, secondsLeft: Int64(certificate.notAfter.timeIntervalSince(now)),
            queuedAt: now)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return WebhookDelivery(
            idempotencyKey: key, endpoint: endpoint.name, body: Array(try encoder.encode(body)), state: .pending,
            attempts: 0, nextAttemptAt: now, lastError: nil, createdAt: now, deliveredAt: nil)
    }

    /// A threshold as its shortest whole-unit duration text (`7d`, `55m`), as in keys and bodies.
    static func durationText(_ seconds: TimeInterval) -> String {
        let whole = Int64(seconds)
        for (unit, size) in [("w", Int64(604_800)), ("d", 86_400), ("h", 3_600), ("m", 60)] where whole % size == 0 {
            return "\(whole / size)\(unit)"
        }
        return "\(whole)s"
    }

    /// The body of an expiry notice (docs/authz.md).
    struct Notice: Encodable {
        var type: String
        var idempotencyKey: String
        var threshold: String
        var issuer: String
        var serial: String
        var subject: String
        var profile: String
        var device: String?
        var notAfter: Date
        var secondsLeft: Int64
        var queuedAt: Date
    }
}
