import ArgumentParser
import FleetkeyCore
import FleetkeyPostgres
import FleetkeySQLite
import FleetkeyServer
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

struct ServeCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve OCSP, CRLs, deny lists and CA certificates, with /healthz and Prometheus /metrics.",
        discussion: """
            Endpoints: POST /ocsp[/ISSUER] and GET /ocsp/[ISSUER/]BASE64 (RFC 6960, RFC 5019; the base64 raw or \
            percent-encoded), GET /crl/NAME.crl (the URLs in certificates' cRLDistributionPoints), \
            GET /denylist/ISSUER and GET /denylist/ISSUER?since=N (a vendor's signed deny list, or the delta since \
            list N), GET /ca/ISSUER.cer, GET /healthz, GET /metrics.

            Revocations recorded by any process reach OCSP and the deny lists within a second and the vendor CRLs \
            within about two.

            The root key is never needed: the root CRL served is the one the last key ceremony stored in the \
            registry (`fleetkey crl publish --issuer root`, run where the root key is kept), re-read every few \
            seconds. /healthz answers `warn` and /metrics sets fleetkey_root_crl_warning to 1 while it is missing, \
            expired, or has less than a quarter of its validity left. Needs the keystore passphrase \
            (FLEETKEY_PASSPHRASE) for the vendor CA and OCSP responder keys: it signs vendor CRLs, deny lists and OCSP \
            answers, and renews each vendor's OCSP responder certificate (recorded in the registry) once less than a \
            quarter of its year is left.

            Limits for strangers: connections idle longer than --idle-timeout are closed, and so are those that take \
            longer than --header-timeout to send a request; at most --max-connections are held (more wait to be \
            accepted); OCSP request bodies over 16 KiB are refused (413), other routes take none, and OCSP posts \
            must be application/ocsp-request (415). Signatures made for one client (OCSP cache misses, nonces and \
            requests about several certificates, deny lists not cached yet) are limited by \
            --client-signature-rate: beyond it, nonces are ignored, other OCSP requests are answered tryLater and \
            deny lists 429. HTTPS (--tls-cert, --tls-key) negotiates TLS 1.2 or later.

            Stops gracefully on SIGTERM or SIGINT.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "Address and port to listen on.") var listen = "127.0.0.1:8080"
    @Option(
        help: "Serve /metrics on this HOST:PORT (plain HTTP) instead of on the public listener, e.g. 127.0.0.1:9090.")
    var metricsListen: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "Serve HTTPS: the server's PEM certificate chain (leaf first).") var tlsCert: String?
    @Option(help: "Serve HTTPS: the server's PEM private key.") var tlsKey: String?
    @Option(help: "Close a connection with no request in progress after this many seconds.")
    var idleTimeout = ServerLimits().idleTimeoutSeconds
    @Option(help: "Close a connection whose request is not fully read this many seconds after its first byte.")
    var headerTimeout = ServerLimits().headerTimeoutSeconds
    @Option(help: "Hold at most this many connections at once; more wait to be accepted.")
    var maxConnections = ServerLimits().maximumConnections
    @Option(help: "Signatures made on demand for one client (IPv4 address or IPv6 /64) per second.")
    var clientSignatureRate = ServerLimits().signaturesPerClientPerSecond
    @Option(help: "How many on-demand signatures one client may use at once before the rate applies.")
    var clientSignatureBurst = ServerLimits().signatureBurstPerClient
    @Option(help: "The most certificates one OCSP request may ask about; more is answered malformedRequest.")
    var ocspMaxCertids = OCSPResponderConfiguration().maximumRequestsPerMessage
    @Flag(
        help: ArgumentHelp(
            "Serve EST (RFC 7030) for an owner's devices under /.well-known/est/, over TLS with client certificates.",
            discussion: "Only on an owner's registry with a domain CA (fleetkey owner ca create). Needs --est-tls-cert "
                + "and --est-tls-key."))
    var est = false
    @Option(help: "Where EST listens (TLS only), HOST:PORT.") var estListen = "127.0.0.1:8443"
    @Option(help: "EST's TLS server certificate chain, PEM (leaf first).") var estTlsCert: String?
    @Option(help: "EST's TLS server private key, PEM.") var estTlsKey: String?
    @Option(
        help: ArgumentHelp(
            "Reuse a fetched CRL of a vendor CA or the root for this many seconds when checking factory identities "
                + "(0: fetch for every enrollment); each use is still verified, and never past its nextUpdate."))
    var statusCacheSeconds = 60

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if est, estTlsCert == nil || estTlsKey == nil {
            throw ValidationError("--est needs --est-tls-cert and --est-tls-key: EST is served over TLS only")
        }
        guard (0...3600).contains(statusCacheSeconds) else {
            throw ValidationError("--status-cache-seconds must be 0 to 3600")
        }
    }

    /// `HOST:PORT` of `option`, or an error naming the option.
    static func listener(_ value: String, option: String) throws -> StatusServer.Listener {
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]),
            (1...65_535).contains(port), colon != value.startIndex
        else {
            throw FleetkeyError(.invalidArgument, "\(option) '\(value)' must be HOST:PORT, e.g. 127.0.0.1:8080")
        }
        return StatusServer.Listener(host: String(value[..<colon]), port: port)
    }

    func execute() async throws {
        let publicListener = try Self.listener(listen, option: "--listen")
        let metricsListener = try metricsListen.map { try Self.listener($0, option: "--metrics-listen") }
        if let metricsListener, metricsListener == publicListener {
            throw FleetkeyError(.invalidArgument, "--metrics-listen must differ from --listen (\(listen))")
        }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw FleetkeyError(
                .invalidArgument, "--log-level '\(logLevel)' must be one of trace, debug, info, notice, warning, error")
        }
        let limits = ServerLimits(
            idleTimeoutSeconds: idleTimeout, headerTimeoutSeconds: headerTimeout, maximumConnections: maxConnections,
            signaturesPerClientPerSecond: clientSignatureRate, signatureBurstPerClient: clientSignatureBurst)
        try limits.validate()
        guard (1...1_000).contains(ocspMaxCertids) else {
            throw FleetkeyError(.invalidArgument, "--ocsp-max-certids must be 1 to 1000, not \(ocspMaxCertids)")
        }
        let directory = location.directory
        // Requests read through one registry connection pool, the revocation poll through another: a flood of
        // requests must not starve the poll and keep revoked certificates answered good.
        let store = try directory.openRevocationRegistry()
        let refresherStore = try Self.openRefresherRegistry(directory)
        let ecosystem = try directory.openEcosystem(passphrase: try directory.passphrase())
        let policy = ecosystem.policy

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "fleetkey.serve")
        logger.logLevel = level
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))

        // Vendor CA keys (vendor CRLs, deny lists, responder renewal) and OCSP responder keys; never the root's. An
        // owner's registry serves its domain CA alone: the vendors' keys are the vendors'.
        let isOwner = try directory.configuration().role == "owner"
        if est, !isOwner {
            throw FleetkeyError(
                .invalidArgument,
                "--est serves an owner's devices: run it on an owner's registry (fleetkey owner init, then fleetkey "
                    + "owner ca create)")
        }
        var authorities: [CertificateAuthority] = []
        var served: [OCSPServedIssuer] = []
        if isOwner {
            let domain = try await Self.domainAuthority(ecosystem: ecosystem, store: store)
            authorities = [domain.authority]
            served = [domain.responder]
        }
        for vendor in try await isOwner ? [] : store.vendors() {
            let authority = try await ecosystem.authority(id: vendor.authorityID)
            authorities.append(authority)
            do {
                guard
                    let signer = try await OCSPResponderRenewalService.startingResponder(
                        ecosystem: ecosystem, index: store, authority: authority, logger: logger)
                else {
                    logger.warning(
                        "no OCSP for this vendor: it is \(vendor.state.rawValue) and has no valid responder certificate",
                        metadata: ["vendor": "\(vendor.name)"])
                    continue
                }
                served.append(
                    try OCSPServedIssuer(
                        authorityID: vendor.authorityID, caCertificate: authority.certificate,
                        responderCertificate: signer.certificate, responderKey: signer.key))
            } catch let error as FleetkeyError {
                throw error
            } catch {
                throw FleetkeyError(
                    .configuration, "cannot set up the OCSP responder of vendor '\(vendor.name)': \(error)")
            }
        }
        let responder = try OCSPResponder(
            issuers: served, statusSource: RegistryStatusSource(store: store), clock: Runtime.clock,
            configuration: OCSPResponderConfiguration(
                validity: Double(policy.revocation.ocspValidityMinutes) * 60,
                maximumRequestsPerMessage: ocspMaxCertids))
        let distribution = CRLDistribution(policy: policy)
        let denyLists = DenyListDistribution(
            publisher: DenyListPublisher(store: store, policy: policy, clock: Runtime.clock), authorities: authorities,
            clock: Runtime.clock)
        // An owner publishes no root CRL: it is the ecosystem's, served by the ecosystem.
        let health = isOwner ? nil : StatusHealth(metrics: metrics, clock: Runtime.clock)
        let refresher = StatusRefreshService(
            store: refresherStore, publisher: CRLPublisher(store: refresherStore, policy: policy, clock: Runtime.clock),
            authorities: Dictionary(uniqueKeysWithValues: authorities.map { ($0.id, $0) }), distribution: distribution,
            ocsp: responder, denyLists: denyLists, health: health, clock: Runtime.clock, logger: logger)
        let renewal = OCSPResponderRenewalService(
            ecosystem: ecosystem, index: store, responder: responder, authorities: authorities, logger: logger)
        let caCertificates = try await CACertificates.load(
            (isOwner ? [] : [StatusRefreshService.offlineIssuer]) + authorities.map(\.id), from: store)
        let estListener = try await est ? estListener(ecosystem: ecosystem, store: store) : nil
        var services: [any Service] = [refresher, renewal]
        if let notifier = try Self.expiryNotifier(directory, store: store) {
            services.append(WebhookService(notifier: notifier, logger: logger))
        }
        try await refresher.prepare()
        for warning in health?.warnings() ?? [] { logger.warning(Logger.Message(stringLiteral: warning)) }
        logger.info(
            "serving",
            metadata: [
                "listen": "\(listen)", "metrics": "\(metricsListen ?? listen)", "ocsp": "\(served.map(\.authorityID))",
                "crl": "\(([StatusRefreshService.offlineIssuer] + authorities.map(\.id)).sorted())",
                "denylist": "\(denyLists.issuers)", "est": "\(est ? estListen : "off")",
            ])
        try await StatusServer.run(
            .init(
                host: publicListener.host, port: publicListener.port,
                routes: StatusRoutes(
                    ocsp: responder, crls: distribution, caCertificates: caCertificates, denyLists: denyLists,
                    health: health, metrics: metrics, rateLimiter: ClientRateLimiter(limits, clock: Runtime.clock),
                    ocspPathIssuers: Set(authorities.map(\.id)), clock: Runtime.clock),
                services: services, logger: logger,
                tls: tlsCert.map { StatusServer.TLSFiles(certificateChain: $0, privateKey: tlsKey!) }, limits: limits,
                metricsListener: metricsListener, est: estListener))
    }

    /// The expiry notifier of the webhooks `fleetkey.json` lists, each checked with its secret; `nil` for none.
    static func expiryNotifier(_ directory: EcosystemDirectory, store: any RegistryStore) throws -> ExpiryNotifier? {
        guard let endpoints = try directory.configuration().webhooks, !endpoints.isEmpty else { return nil }
        guard let operations = store as? any FleetOperationsStore else {
            throw FleetkeyError(.configuration, "this registry cannot record webhook deliveries")
        }
        var schedules: [WebhookSchedule] = []
        for endpoint in endpoints {
            let secret = try directory.secretFile(endpoint.secretFile, for: "webhook '\(endpoint.name)'")
            schedules.append(try endpoint.schedule(secret: secret))
        }
        guard Set(schedules.map(\.name)).count == schedules.count else {
            throw FleetkeyError(.configuration, "fleetkey.json names two webhooks alike; give each its own \"name\"")
        }
        return ExpiryNotifier(
            store: operations, clock: Runtime.clock, transport: URLSessionWebhookTransport(), endpoints: schedules)
    }

    /// An owner's domain CA, with its key, and the delegated OCSP responder that answers for it.
    static func domainAuthority(ecosystem: Ecosystem, store: any RegistryStore & RevocationStore) async throws
        -> (authority: CertificateAuthority, responder: OCSPServedIssuer)
    {
        guard try await store.authority(id: Ecosystem.domainCAID) != nil else {
            throw FleetkeyError(
                .configuration,
                "this owner's registry has no domain CA, so there is nothing to serve: run `fleetkey owner ca create`")
        }
        let authority = try await ecosystem.authority(id: Ecosystem.domainCAID)
        let signer = try await ecosystem.delegatedSigner(
            authorityID: authority.id, name: "the domain CA", profile: CertificateProfile.Name.ocspResponder,
            index: store)
        return (
            authority,
            try OCSPServedIssuer(
                authorityID: authority.id, caCertificate: authority.certificate,
                responderCertificate: signer.certificate,
                responderKey: signer.key)
        )
    }

    /// The EST listener: the enrollment rules on this registry, factory identities' status fetched from their
    /// vendors' servers (a CRL reused for --status-cache-seconds), and the listener's TLS identity.
    func estListener(ecosystem: Ecosystem, store: any RegistryStore & RevocationStore) async throws
        -> StatusServer.ESTListener
    {
        guard let registry = store as? any EnrollmentRegistry else {
            throw FleetkeyError(.configuration, "this registry does not support EST enrollment")
        }
        let fetcher = CachingStatusFetcher(
            HTTPStatusFetcher(), maximumAge: TimeInterval(statusCacheSeconds), clock: Runtime.clock)
        let enrollment = try await DeviceEnrollment.load(
            ecosystem: ecosystem, registry: registry, identityStatus: .fetched(fetcher))
        var authz: AuthzRoutes?
        if let access = registry as? any AccessRegistry {
            authz = AuthzRoutes(
                point: try await AccessDecisionPoint.load(registry: access, clock: Runtime.clock, actor: "serve"),
                clock: Runtime.clock)
        }
        return StatusServer.ESTListener(
            listener: try Self.listener(estListen, option: "--est-listen"),
            tls: StatusServer.TLSFiles(certificateChain: estTlsCert!, privateKey: estTlsKey!),
            routes: ESTRoutes(enrollment: enrollment), authz: authz)
    }

    /// A second instance of the registry for the status refresher: for SQLite its own connection pool on the same
    /// file, for PostgreSQL a pool of two connections.
    static func openRefresherRegistry(_ directory: EcosystemDirectory) throws -> any RegistryStore & RevocationStore {
        let store: any RegistryStore
        switch try RegistrySelection(recorded: directory.configuration().registry, directory: directory.url) {
        case .sqlite(let path):
            store = try SQLiteRegistry(path: path)
        case .postgres(let location):
            let registry = try PostgresRegistry(
                location: location, password: RegistrySelection.databasePassword, maximumConnections: 2)
            OpenRegistries.adopt(registry)
            store = registry
        }
        guard let revocation = store as? any RegistryStore & RevocationStore else {
            throw FleetkeyError(.configuration, "this ecosystem's registry does not support revocation")
        }
        return revocation
    }
}
