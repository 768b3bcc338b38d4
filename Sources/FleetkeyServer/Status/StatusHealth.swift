import FleetkeyCore
import Foundation
import Prometheus
import Synchronization

/// What `/healthz` and `/metrics` warn about: the root CRL, which this server serves but cannot sign.
///
/// The server holds no root key (the root stays offline): it serves the root CRL the last key ceremony published
/// (`fleetkey crl publish --issuer root`, stored in the registry), and says so when that CRL is missing, expired,
/// or has less than a quarter of its validity left, so the operator schedules the next ceremony in time. A relying
/// party that finds the root CRL past its nextUpdate cannot check any vendor CA (RFC 5280 §6.3.3).
package final class StatusHealth: Sendable {
    /// The share of the root CRL's validity left at which the server starts warning.
    package static let warningShare = 0.25

    private let clock: any WallClock
    private let rootCRL = Mutex<PublishedCRL?>(nil)
    private let nextUpdateGauge: Gauge
    private let warningGauge: Gauge

    /// Registers the gauges `fleetkey_root_crl_next_update_seconds` (Unix time; 0 when none is published) and
    /// `fleetkey_root_crl_warning` (1 while the root CRL is missing, expired or near its nextUpdate) in `metrics`.
    package init(metrics: PrometheusCollectorRegistry, clock: any WallClock) {
        self.clock = clock
        nextUpdateGauge = metrics.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "fleetkey", subsystem: "root_crl", metricName: "next_update", unitName: "seconds",
                helpText: "nextUpdate of the root CRL being served, as Unix time; 0 when the registry holds none"))
        warningGauge = metrics.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "fleetkey", subsystem: "root_crl", metricName: "warning", unitName: "",
                helpText:
                    "1 while the root CRL is missing, expired or in its last quarter: publish it at a key ceremony"))
        refreshGauges()
    }

    /// The root CRL now being served.
    package func serving(rootCRL crl: PublishedCRL?) {
        rootCRL.withLock { $0 = crl }
        refreshGauges()
    }

    /// Sentences for an operator, empty when all is well.
    package func warnings() -> [String] {
        let now = clock.now()
        guard let crl = rootCRL.withLock({ $0 }) else {
            return [
                "no root CRL is published: run `fleetkey crl publish --issuer root` where the root key is kept (a key "
                    + "ceremony); relying parties cannot check the vendor CAs until then"
            ]
        }
        let next = ISO8601DateFormatter().string(from: crl.nextUpdate)
        if crl.nextUpdate <= now {
            return [
                "the root CRL (number \(crl.number)) expired at \(next): run `fleetkey crl publish --issuer root` at a "
                    + "key ceremony now"
            ]
        }
        if Self.isNearNextUpdate(crl, at: now) {
            let days = Int(crl.nextUpdate.timeIntervalSince(now) / 86_400)
            return [
                "the root CRL (number \(crl.number)) expires at \(next), in \(days) day(s): run "
                    + "`fleetkey crl publish --issuer root` at the next key ceremony"
            ]
        }
        return []
    }

    /// Brings the gauges up to the clock; `/metrics` calls it before each scrape.
    package func refreshGauges() {
        let crl = rootCRL.withLock { $0 }
        nextUpdateGauge.set(to: crl?.nextUpdate.timeIntervalSince1970 ?? 0)
        warningGauge.set(to: warnings().isEmpty ? 0 : 1)
    }

    /// Whether less than ``warningShare`` of the CRL's validity is left at `now`.
    static func isNearNextUpdate(_ crl: PublishedCRL, at now: Date) -> Bool {
        crl.nextUpdate.timeIntervalSince(now) < crl.nextUpdate.timeIntervalSince(crl.thisUpdate) * warningShare
    }
}
