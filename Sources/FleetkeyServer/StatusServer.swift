import FleetkeyCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `fleetkey serve`: one Hummingbird server with the status endpoints and the services that keep them fresh, and
/// optionally a second listener for `/metrics` alone.
package enum StatusServer {
    /// Where a listener binds.
    package struct Listener: Sendable, Hashable {
        package var host: String
        package var port: Int

        package init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// Everything the server needs, already wired by the caller (the CLI).
    package struct Components: Sendable {
        package var host: String
        package var port: Int
        package var routes: StatusRoutes
        /// Run beside the listener: the status refresher, the OCSP responder renewal.
        package var services: [any Service]
        package var logger: Logger
        /// Serve HTTPS with this certificate chain and key (PEM files) instead of plain HTTP.
        package var tls: TLSFiles?
        package var limits: ServerLimits
        /// Serve `/metrics` here, and not on the public listener; `nil` serves it with the public routes.
        package var metricsListener: Listener?
        /// EST for an owner's devices, on a TLS listener of its own; `nil` serves none.
        package var est: ESTListener?

        package init(
            host: String, port: Int, routes: StatusRoutes, services: [any Service], logger: Logger,
            tls: TLSFiles? = nil, limits: ServerLimits = ServerLimits(), metricsListener: Listener? = nil,
            est: ESTListener? = nil
        ) {
            self.est = est
            self.host = host
            self.port = port
            self.routes = routes
            self.services = services
            self.logger = logger
            self.tls = tls
            self.limits = limits
            self.metricsListener = metricsListener
        }
    }

    /// The server's own TLS identity: a PEM certificate chain (leaf first) and its PEM private key.
    package struct TLSFiles: Sendable {
        package var certificateChain: String
        package var privateKey: String

        package init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }

        /// TLS 1.2 at least (RFC 9325 §3.1.1: TLS 1.0 and 1.1 must not be negotiated).
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
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        }
    }

    /// The EST listener: where it binds, its TLS identity, and the routes.
    package struct ESTListener: Sendable {
        package var listener: Listener
        package var tls: TLSFiles
        package var routes: ESTRoutes
        /// `POST /v1/authz`, for the owner's gateways.
        package var authz: AuthzRoutes?

        package init(listener: Listener, tls: TLSFiles, routes: ESTRoutes, authz: AuthzRoutes? = nil) {
            self.listener = listener
            self.tls = tls
            self.routes = routes
            self.authz = authz
        }
    }

    /// The EST application: TLS 1.2 or 1.3 only, asking every client for a certificate (RFC 7030 §3.3.2).
    ///
    /// The handshake proves the client holds the key of the certificate it presents, and it is accepted whatever that
    /// certificate is: the chain, its status and the registry's records are the core's to judge
    /// (``DeviceEnrollment``), so that a refusal is an answered, recorded 401 or 403 rather than a failed handshake
    /// nobody sees. No client certificate at all is allowed too, for `/cacerts` and `/csrattrs` (RFC 7030 §4.1.1).
    package static func estApplication(
        _ est: ESTListener, limits: ServerLimits, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = Router(context: ESTRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: MetricsMiddleware())
        est.routes.register(on: router)
        est.authz?.register(on: router)
        var tls = try est.tls.configuration()
        tls.maximumTLSVersion = .tlsv13
        tls.certificateVerification = .optionalVerification
        let configuration = TLSChannelConfiguration(
            tlsConfiguration: tls,
            customVerificationCallback: { _, promise in promise.succeed(.certificateVerified) })
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                try TLSChannel(GuardedHTTP1Channel(responder: responder, limits: limits), configuration: configuration)
            },
            configuration: .init(
                address: .hostname(est.listener.host, port: est.listener.port), serverName: "fleetkey-est",
                availableConnectionsDelegate: MaximumAvailableConnections(limits.maximumConnections, logger: logger)),
            onServerRunning: onServerRunning,
            logger: logger)
    }

    /// The public application: routes with request logging and metrics, the bounded HTTP/1.1 channel (TLS when
    /// configured), and the services. `onServerRunning` is told the listening channel (its local address has the
    /// port, when 0 was asked for).
    package static func application(
        _ components: Components, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = Router(context: StatusRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: MetricsMiddleware())
        components.routes.register(on: router, includingMetrics: components.metricsListener == nil)
        return Application(
            router: router,
            server: try serverBuilder(limits: components.limits, tls: try components.tls?.configuration()),
            configuration: .init(
                address: .hostname(components.host, port: components.port), serverName: "fleetkey",
                availableConnectionsDelegate: MaximumAvailableConnections(
                    components.limits.maximumConnections, logger: components.logger)),
            services: components.services,
            onServerRunning: onServerRunning,
            logger: components.logger)
    }

    /// The `/metrics` application of `--metrics-listen`: plain HTTP, the same connection limits.
    package static func metricsApplication(_ components: Components, listener: Listener) throws
        -> some ApplicationProtocol
    {
        let router = Router(context: StatusRequestContext.self)
        router.add(middleware: ErrorMappingMiddleware(.plainText))
        components.routes.registerMetrics(on: router)
        return Application(
            router: router,
            server: try serverBuilder(limits: components.limits, tls: nil),
            configuration: .init(
                address: .hostname(listener.host, port: listener.port), serverName: "fleetkey",
                availableConnectionsDelegate: MaximumAvailableConnections(
                    components.limits.maximumConnections, logger: components.logger)),
            logger: components.logger)
    }

    /// HTTP/1.1 with the idle and request-read timeouts and the body cap of `limits`, inside TLS when given.
    static func serverBuilder(limits: ServerLimits, tls: TLSConfiguration?) throws -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            let channel = GuardedHTTP1Channel(responder: responder, limits: limits)
            guard let tls else { return channel }
            return try TLSChannel(channel, tlsConfiguration: tls)
        }
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully.
    package static func run(_ components: Components) async throws {
        var services: [any Service] = [
            BoundListener(
                option: "--listen", address: Listener(host: components.host, port: components.port),
                inner: try application(components))
        ]
        if let listener = components.metricsListener {
            services.append(
                BoundListener(
                    option: "--metrics-listen", address: listener,
                    inner: try metricsApplication(components, listener: listener)))
        }
        if let est = components.est {
            services.append(
                BoundListener(
                    option: "--est-listen", address: est.listener,
                    inner: try estApplication(est, limits: components.limits, logger: components.logger)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: components.logger))
        try await group.run()
    }
}

/// The request context of the status routes: Hummingbird's, plus the client's address for rate limiting.
package struct StatusRequestContext: RequestContext, RemoteAddressRequestContext {
    package var coreContext: CoreRequestContextStorage
    package let remoteAddress: SocketAddress?

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// No status route reads more than an OCSP request.
    package var maxUploadSize: Int { RouteBodyLimits.ocspRequest }
}
