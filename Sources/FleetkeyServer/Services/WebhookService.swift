import FleetkeyCore
import Logging
import Metrics
import ServiceLifecycle

/// Expiry notices by webhook, inside `fleetkey serve`: each endpoint's registry scan at its interval, and every
/// second a round of the deliveries due (``ExpiryNotifier``). A round under way when the server is told to stop
/// finishes first, so a notice sent is also recorded as sent.
package struct WebhookService: Service {
    let notifier: ExpiryNotifier
    let logger: Logger
    let tick: Duration

    package init(notifier: ExpiryNotifier, logger: Logger, tick: Duration = .seconds(1)) {
        self.notifier = notifier
        self.logger = logger
        self.tick = tick
    }

    package func run() async throws {
        let delivered = Counter(label: "fleetkey_webhook_deliveries_total", dimensions: [("outcome", "delivered")])
        let failed = Counter(label: "fleetkey_webhook_deliveries_total", dimensions: [("outcome", "failed")])
        var nextScan = [String: ContinuousClock.Instant]()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            for endpoint in notifier.endpoints where nextScan[endpoint.name].map({ $0 <= .now }) ?? true {
                nextScan[endpoint.name] = .now + .seconds(endpoint.scanInterval)
                do {
                    let queued = try await notifier.scan(endpoint)
                    if queued > 0 {
                        logger.info(
                            "queued expiry notices", metadata: ["webhook": "\(endpoint.name)", "count": "\(queued)"])
                    }
                } catch {
                    logger.error(
                        "expiry scan failed; will retry",
                        metadata: ["webhook": "\(endpoint.name)", "error": "\(error)"])
                }
            }
            do {
                let round = try await notifier.deliverDue()
                delivered.increment(by: round.delivered)
                failed.increment(by: round.failed.count)
                for failure in round.failed {
                    logger.warning("webhook delivery failed; will retry", metadata: ["delivery": "\(failure)"])
                }
            } catch {
                logger.error("webhook deliveries failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: tick)
        }
    }
}
