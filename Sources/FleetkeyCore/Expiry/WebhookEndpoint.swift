import Crypto
import Foundation

/// A webhook that `fleetkey serve` notifies of expiring certificates, as `fleetkey.json` lists it (docs/authz.md):
///
/// ```json
/// "webhooks": [ { "name": "ops", "url": "https://hooks.example.net/fleetkey", "secretFile": "webhook-ops.key",
///                 "thresholds": ["30d", "7d", "1d"] } ]
/// ```
/// The secret stays in its own file (mode 0600), never in the configuration, the registry or a log.
public struct WebhookEndpoint: Sendable, Hashable, Codable {
    /// 1-64 letters, digits, `-`, `.` or `_`: the endpoint's name in deliveries and logs.
    public var name: String
    public var url: String
    /// The HMAC-SHA256 key's file, relative to the directory: at least 32 bytes.
    public var secretFile: String
    /// How long before notAfter to notify, each a duration (`30d`, `12h`).
    public var thresholds: [String]
    /// The first retry's delay after a failed delivery; each next one doubles it. Default 30.
    public var retryBaseSeconds: Int?
    /// The longest delay between two attempts. Default 3600.
    public var retryMaximumSeconds: Int?
    /// How often the registry is read for certificates that crossed a threshold. Default 300.
    public var scanSeconds: Int?

    public init(
        name: String, url: String, secretFile: String, thresholds: [String], retryBaseSeconds: Int? = nil,
        retryMaximumSeconds: Int? = nil, scanSeconds: Int? = nil
    ) {
        self.name = name
        self.url = url
        self.secretFile = secretFile
        self.thresholds = thresholds
        self.retryBaseSeconds = retryBaseSeconds
        self.retryMaximumSeconds = retryMaximumSeconds
        self.scanSeconds = scanSeconds
    }

    /// The endpoint checked, with its key: every problem names the endpoint and the field.
    public func schedule(secret: [UInt8]) throws(FleetkeyError) -> WebhookSchedule {
        func invalid(_ reason: String) -> FleetkeyError {
            FleetkeyError(.configuration, "webhook \(NameRule.quoted(name)) in fleetkey.json: \(reason)")
        }
        guard NameRule.admits(name, allowed: DeviceGroup.nameCharacters, maximumLength: 64) else {
            throw invalid("\"name\" must be 1-64 letters, digits, '-', '.' or '_'")
        }
        guard let target = URL(string: url), ["http", "https"].contains(target.scheme?.lowercased() ?? ""),
            target.host != nil
        else { throw invalid("\"url\" must be an http or https URL with a host") }
        guard !thresholds.isEmpty, thresholds.count <= 16 else {
            throw invalid("\"thresholds\" must list 1 to 16 durations, as [\"30d\", \"7d\", \"1d\"]")
        }
        var seconds: [TimeInterval] = []
        for threshold in thresholds {
            do { seconds.append(try DurationText.seconds(threshold, field: "threshold")) } catch {
                throw invalid("\"thresholds\": \(error.reason)")
            }
        }
        guard Set(seconds).count == seconds.count else { throw invalid("\"thresholds\" lists a duration twice") }
        let base = retryBaseSeconds ?? 30
        let maximum = retryMaximumSeconds ?? 3_600
        let scan = scanSeconds ?? 300
        guard (1...86_400).contains(base), (base...604_800).contains(maximum) else {
            throw invalid("\"retryBaseSeconds\" must be 1-86400 and \"retryMaximumSeconds\" from it to 604800")
        }
        guard (1...86_400).contains(scan) else { throw invalid("\"scanSeconds\" must be 1-86400") }
        guard secret.count >= 32 else {
            throw invalid("the secret in \"secretFile\" must hold at least 32 bytes (256 bits) of key")
        }
        return WebhookSchedule(
            name: name, url: url, key: SymmetricKey(data: secret), thresholds: seconds.sorted(by: >),
            retryBase: TimeInterval(base), retryMaximum: TimeInterval(maximum), scanInterval: TimeInterval(scan))
    }
}

/// A checked webhook endpoint, with its key.
public struct WebhookSchedule: Sendable {
    public let name: String
    public let url: String
    let key: SymmetricKey
    /// Longest first.
    public let thresholds: [TimeInterval]
    public let retryBase: TimeInterval
    public let retryMaximum: TimeInterval
    public let scanInterval: TimeInterval

    /// The delay before attempt `attempts + 1`, after `attempts` failed ones: the base, doubled for each failure
    /// after the first, at most the maximum.
    public func retryDelay(afterFailedAttempts attempts: Int) -> TimeInterval {
        let doublings = min(max(attempts - 1, 0), 30)
        return min(retryBase * Double(1 << doublings), retryMaximum)
    }

    /// The headers that sign `body` at `timestamp`: `Fleetkey-Signature: sha256=HEX`, the HMAC-SHA256 under the
    /// endpoint's key of the timestamp (Unix seconds), a `.`, and the body's bytes. A receiver recomputes it,
    /// compares in constant time, and refuses timestamps far from its clock, so an old notice cannot be replayed.
    public func signatureHeaders(body: [UInt8], timestamp: Date) -> [(String, String)] {
        let seconds = String(Int64(timestamp.timeIntervalSince1970.rounded(.down)))
        let code = HMAC<SHA256>.authenticationCode(for: Array((seconds + ".").utf8) + body, using: key)
        return [("Fleetkey-Timestamp", seconds), ("Fleetkey-Signature", "sha256=" + Hex.lower(code))]
    }
}
