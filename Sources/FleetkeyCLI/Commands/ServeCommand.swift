import ArgumentParser
import FleetkeyCore
import FleetkeyServer
import Foundation
import Logging
import Metrics
import Prometheus

struct ServeCommand: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve OCSP, CRLs and CA certificates, with /healthz and Prometheus /metrics.",
        discussion: """
            Endpoints: POST /ocsp[/ISSUER] and GET /ocsp/ISSUER/BASE64 (RFC 6960, RFC 5019), GET /crl/NAME.crl
            (the URLs in certificates' cRLDistributionPoints), GET /ca/ISSUER.cer, GET /healthz, GET /metrics.
            Revocations recorded by any process reach OCSP within a second and the CRLs within about two.
            Needs the keystore passphrase (FLEETKEY_PASSPHRASE): it signs CRLs and OCSP answers.
            Stops gracefully on SIGTERM or SIGINT.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "Address and port to listen on.") var listen = "127.0.0.1:8080"
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "Serve HTTPS: the server's PEM certificate chain (leaf first).") var tlsCert: String?
    @Option(help: "Serve HTTPS: the server's PEM private key.") var tlsKey: String?

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    func execute() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (1...65_535).contains(port)
        else {
            throw FleetkeyError(.invalidArgument, "--listen '\(listen)' must be HOST:PORT, e.g. 127.0.0.1:8080")
        }
        let host = String(listen[..<colon])
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw FleetkeyError(
                .invalidArgument, "--log-level '\(logLevel)' must be one of trace, debug, info, notice, warning, error")
        }
        let directory = location.directory
        let store = try directory.openRevocationRegistry()
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

        var authorities: [String: CertificateAuthority] = ["root": try await ecosystem.rootAuthority()]
        var served: [OCSPServedIssuer] = []
        for vendor in try await store.vendors() {
            authorities[vendor.authorityID] = try await ecosystem.authority(id: vendor.authorityID)
            do {
                let signer = try await ecosystem.delegatedSigner(
                    vendor: vendor.name, profile: CertificateProfile.Name.ocspResponder, index: store)
                served.append(
                    try OCSPServedIssuer(
                        authorityID: vendor.authorityID, caCertificate: authorities[vendor.authorityID]!.certificate,
                        responderCertificate: signer.certificate, responderKey: signer.key))
            } catch let error as FleetkeyError where error.code == .notFound {
                logger.warning(
                    "no OCSP for this vendor", metadata: ["vendor": "\(vendor.name)", "reason": "\(error.reason)"])
            } catch let error as FleetkeyError {
                throw error
            } catch {
                throw FleetkeyError(
                    .configuration, "cannot set up the OCSP responder of vendor '\(vendor.name)': \(error)")
            }
        }
        let responder = try OCSPResponder(
            issuers: served, statusSource: RegistryStatusSource(store: store), clock: Runtime.clock,
            configuration: OCSPResponderConfiguration(validity: Double(policy.revocation.ocspValidityMinutes) * 60))
        let distribution = CRLDistribution(policy: policy)
        let refresher = StatusRefreshService(
            store: store, publisher: CRLPublisher(store: store, policy: policy, clock: Runtime.clock),
            authorities: authorities,
            distribution: distribution, ocsp: responder, logger: logger)
        logger.info(
            "serving",
            metadata: [
                "listen": "\(host):\(port)", "ocsp": "\(served.map(\.authorityID))",
                "crl": "\(authorities.keys.sorted())",
            ])
        try await StatusServer.run(
            .init(
                host: host, port: port,
                routes: StatusRoutes(ocsp: responder, crls: distribution, store: store, metrics: metrics),
                refresher: refresher, logger: logger,
                tls: tlsCert.map { StatusServer.TLSFiles(certificateChain: $0, privateKey: tlsKey!) }))
    }
}
