import FleetkeyCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOSSL
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
        /// Serve HTTPS with this certificate chain and key (PEM files) instead of plain HTTP.
        public var tls: TLSFiles?

        public init(
            host: String, port: Int, routes: StatusRoutes, refresher: StatusRefreshService, logger: Logger,
            tls: TLSFiles? = nil
        ) {
            self.host = host
            self.port = port
            self.routes = routes
            self.refresher = refresher
            self.logger = logger
            self.tls = tls
        }
    }

    /// The server's own TLS identity: a PEM certificate chain (leaf first) and its PEM private key.
    public struct TLSFiles: Sendable {
        public var certificateChain: String
        public var privateKey: String

        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }

        func configuration() throws -> TLSConfiguration {
            let chain: [NIOSSLCertificate]
            let key: NIOSSLPrivateKey
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificateChain)
            } catch {
                throw FleetkeyError(
                    .configuration, "--tls-cert \(certificateChain) is not a readable PEM certificate chain")
            }
            do {
                key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
            } catch {
                throw FleetkeyError(.configuration, "--tls-key \(privateKey) is not a readable PEM private key")
            }
            guard !chain.isEmpty else {
                throw FleetkeyError(.configuration, "--tls-cert \(certificateChain) holds no certificate")
            }
            return TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        }
    }

    /// The Hummingbird application: routes with request logging and metrics, plus the refresher as a service.
    public static func application(_ components: Components) throws -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: MetricsMiddleware())
        components.routes.register(on: router)
        let server: HTTPServerBuilder =
            try components.tls.map { try .tls(.http1(), tlsConfiguration: try $0.configuration()) } ?? .http1()
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(components.host, port: components.port), serverName: "fleetkey"),
            services: [components.refresher],
            logger: components.logger)
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully.
    public static func run(_ components: Components) async throws {
        let app = try application(components)
        let group = ServiceGroup(
            configuration: .init(
                services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: components.logger))
        try await group.run()
    }
}
