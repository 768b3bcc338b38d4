import FleetkeyCore
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `fleetkey serve`: one Hummingbird server with the status endpoints and the services that keep them fresh.
public enum StatusServer {
    /// Everything the server needs, already wired by the caller (the CLI).
    public struct Components: Sendable {
        public var host: String
        public var port: Int
        public var routes: StatusRoutes
        public var refresher: StatusRefreshService
        public var logger: Logger

        public init(host: String, port: Int, routes: StatusRoutes, refresher: StatusRefreshService, logger: Logger) {
            self.host = host
            self.port = port
            self.routes = routes
            self.refresher = refresher
            self.logger = logger
        }
    }

    /// The Hummingbird application: routes with request logging and metrics, plus the refresher as a service.
    public static func application(_ components: Components) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: MetricsMiddleware())
        components.routes.register(on: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(components.host, port: components.port), serverName: "fleetkey"),
            services: [components.refresher],
            logger: components.logger)
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully.
    public static func run(_ components: Components) async throws {
        let app = application(components)
        let group = ServiceGroup(
            configuration: .init(
                services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: components.logger))
        try await group.run()
    }
}
