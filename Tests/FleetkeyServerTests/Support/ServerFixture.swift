import FleetkeyCore
import FleetkeyCustody
import FleetkeySQLite
import FleetkeyServer
import FleetkeyTesting
import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import X509

/// A real ecosystem for route tests: a SQLite registry file and the encrypted software keystore in a temporary
/// directory, a root and vendor Acme, a few devices, and the server's routes wired as `fleetkey serve` wires them.
///
/// Time is a ``FixedClock`` the test moves (the responder, the CRL and deny-list caches and the renewal all take it).
final class ServerFixture: @unchecked Sendable {
    let directory: URL
    let registry: SQLiteRegistry
    let keystore: SoftwareKeystore
    let clock: FixedClock
    let ecosystem: Ecosystem
    let root: Certificate
    let vendorCA: Certificate
    let authority: CertificateAuthority
    let devices: [Certificate]
    let responder: OCSPResponder
    let distribution: CRLDistribution
    let denyLists: DenyListDistribution
    let health: StatusHealth
    let metrics: PrometheusCollectorRegistry
    let limiter: ClientRateLimiter
    let refresher: StatusRefreshService
    static let logger = Logger(label: "fleetkey.test.server", factory: { _ in SwiftLogNoOpLogHandler() })

    init(
        devices count: Int = 3, limits: ServerLimits = ServerLimits(),
        responderConfiguration: OCSPResponderConfiguration = OCSPResponderConfiguration()
    ) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleetkey-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        registry = try SQLiteRegistry(path: directory.appendingPathComponent("registry.sqlite").path)
        keystore = try SoftwareKeystore(
            directory: directory.appendingPathComponent("keys"), passphrase: Passphrase("route test passphrase"),
            cost: ScryptCost(log2N: ScryptCost.minimumLog2N))
        // Signatures are checked at the clock's time; start it at a whole second just past.
        clock = FixedClock(Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down) - 60))
        let policy = try EcosystemPolicy(
            ecosystem: "Route Test Ecosystem", baseURL: "http://127.0.0.1:8080",
            hardwareModuleType: "2.25.1234567890123")
        ecosystem = Ecosystem(
            policy: policy, store: registry, custody: keystore, clock: clock, random: SystemRandomSource(),
            actor: "test")
        root = try await ecosystem.createRoot(algorithm: .p384)
        let setup = try await ecosystem.addVendor(try VendorName("Acme"), algorithm: .p256)
        vendorCA = setup.caCertificate
        authority = try await ecosystem.vendorAuthority(try VendorName("Acme"))
        var devices: [Certificate] = []
        for index in 0..<count {
            let request = try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "RT-\(index)")
            devices.append(try await ecosystem.issueDeviceIdentity(.init(csr: request.der), by: authority).certificate)
        }
        self.devices = devices
        let signer = try await ecosystem.delegatedSigner(
            vendor: try VendorName("Acme"), profile: CertificateProfile.Name.ocspResponder, index: registry)
        responder = try OCSPResponder(
            issuers: [
                try OCSPServedIssuer(
                    authorityID: authority.id, caCertificate: vendorCA, responderCertificate: signer.certificate,
                    responderKey: signer.key)
            ], statusSource: RegistryStatusSource(store: registry), clock: clock, configuration: responderConfiguration)
        distribution = CRLDistribution(policy: policy)
        denyLists = DenyListDistribution(
            publisher: DenyListPublisher(store: registry, policy: policy, clock: clock), authorities: [authority],
            clock: clock)
        metrics = PrometheusCollectorRegistry()
        health = StatusHealth(metrics: metrics, clock: clock)
        limiter = ClientRateLimiter(limits, clock: clock)
        refresher = StatusRefreshService(
            store: registry, publisher: CRLPublisher(store: registry, policy: policy, clock: clock),
            authorities: [authority.id: authority], distribution: distribution, ocsp: responder, denyLists: denyLists,
            health: health, clock: clock, logger: Self.logger)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var routes: StatusRoutes {
        StatusRoutes(
            ocsp: responder, crls: distribution,
            caCertificates: CACertificates(["root": try! root.derBytes(), authority.id: try! vendorCA.derBytes()]),
            denyLists: denyLists, health: health, metrics: metrics, rateLimiter: limiter,
            ocspPathIssuers: [authority.id], clock: clock)
    }

    /// The public application as `fleetkey serve` builds it, on a free port of 127.0.0.1.
    func application(limits: ServerLimits = ServerLimits(), metricsListener: StatusServer.Listener? = nil) throws
        -> some ApplicationProtocol
    {
        try StatusServer.application(
            .init(
                host: "127.0.0.1", port: 0, routes: routes, services: [], logger: Self.logger, limits: limits,
                metricsListener: metricsListener))
    }

    /// Runs the public application on a free port of 127.0.0.1 while `body` runs, as `fleetkey serve` does (not
    /// through HummingbirdTesting's `.live`, whose test application drops the connection cap).
    func live<T: Sendable>(limits: ServerLimits = ServerLimits(), _ body: @Sendable (Int) async throws -> T)
        async throws -> T
    {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try StatusServer.application(
            .init(host: "127.0.0.1", port: 0, routes: routes, services: [], logger: Self.logger, limits: limits),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            })
        let group = ServiceGroup(configuration: .init(services: [app], logger: Self.logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else { throw FleetkeyError(.storage, "no port") }
            do {
                let value = try await body(port)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return value
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
        }
    }

    /// Revokes one certificate through the core, as `fleetkey revoke --serial` does.
    func revoke(_ certificate: Certificate, reason: RevocationReason = .keyCompromise) async throws {
        let revoker = Revoker(store: registry, clock: clock, actor: "test")
        _ = try await revoker.revoke(
            .certificate(serial: certificate.serialNumber.hexString, issuer: authority.id), reason: reason)
    }

    func request(_ certificate: Certificate, nonce: OCSPNonce? = nil) throws -> [UInt8] {
        try OCSPRequestBuilder.requestDER(issuer: vendorCA, serial: certificate.serialNumber, nonce: nonce)
    }

    func verify(_ der: [UInt8], nonce: OCSPNonce? = nil) throws -> OCSPResponseVerifier.Verified {
        try OCSPResponseVerifier(issuer: vendorCA).verify(der, at: clock.now(), nonce: nonce)
    }
}
