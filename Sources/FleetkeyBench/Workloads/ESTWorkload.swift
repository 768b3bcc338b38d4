import Crypto
import FleetkeyCore
import FleetkeyCustody
import FleetkeyDevice
import FleetkeySQLite
import FleetkeyServer
import FleetkeyTesting
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import SwiftASN1
import X509

/// EST enrollments per second over TLS on loopback, the device SDK (keys and handshake signatures in emulated
/// elements) and `fleetkey serve`'s EST application sharing the machine's cores, at several concurrencies.
///
/// Two references are measured in the same run: the same enrollment rules called in process, without TLS (what
/// issuing an LDevID costs the server by itself), and the same server's cheapest route (`/cacerts`) over a TLS
/// session with a client certificate, at the same concurrency (what the handshakes cost by themselves).
enum ESTWorkload {
    struct Level {
        var concurrency: Int
        var devices: Int
        var rate: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        var handshakeRate: Double
    }

    struct Result {
        var inProcessRate: Double
        var levels: [Level]
        var peakMiB: Double
    }

    static func run(inProcess: Int, levels: [(concurrency: Int, devices: Int)], scratch: URL) async throws -> Result {
        let total = inProcess + levels.map(\.devices).reduce(0, +)
        let world = try await SupplyChainWorkload.makeWorld(in: scratch.appendingPathComponent("est"))
        defer { try? FileManager.default.removeItem(at: world.directory) }
        let shm = URL(fileURLWithPath: "/dev/shm", isDirectory: true)
        let chips = (FileManager.default.isWritableFile(atPath: shm.path) ? shm : world.directory)
            .appendingPathComponent("fleetkey-bench-est-\(ProcessInfo.processInfo.processIdentifier)")
        defer { try? FileManager.default.removeItem(at: chips) }
        let elements = EmulatedElementSource(directory: chips)
        _ = try await SupplyChainWorkload.provision(world, lot: "EST", count: total, elements: elements)
        let manifest = try await SupplyChainWorkload.export(world, lot: "EST").bytes
        let owner = try await SupplyChainWorkload.makeOwner(world)
        let root = try Certificate(derEncoded: try requireRecord(await world.registry.authority(id: "root")))
        guard
            case .imported = try await ManifestImporter(
                store: owner, verifier: ManifestVerifier(trustAnchor: root, now: Date()), actor: "bench"
            ).importManifest(manifest, owner: SupplyChainWorkload.ownerName, status: .registry(world.registry))
        else { throw FleetkeyError(.storage, "the benchmark lot was not imported") }

        let ownerEcosystem = Ecosystem(
            policy: try EcosystemPolicy.owner(
                name: SupplyChainWorkload.ownerName, baseURL: "http://127.0.0.1:8081", random: SystemRandomSource()),
            store: owner, custody: InMemoryKeyCustody(), clock: SystemWallClock(), random: SystemRandomSource(),
            actor: "bench")
        let domain = try await ownerEcosystem.createDomainCA(
            owner: try OwnerName(SupplyChainWorkload.ownerName), algorithm: .p256, into: owner)
        let enrollment = try await DeviceEnrollment.load(
            ecosystem: ownerEcosystem, registry: owner, identityStatus: .registry(world.registry))
        let devices = try await world.registry.devices(matching: DeviceFilter(lot: "EST"))
            .sorted { $0.id.serial.value < $1.id.serial.value }
        let chipsOf = try devices.map { device in
            try elements.existingElement(device.hardwareModule!.serialText)!
        }

        // The in-process reference: requests made ahead, then only the server's work timed.
        var requests: [DeviceEnrollment.Request] = []
        for element in chipsOf.prefix(inProcess) { requests.append(try request(element)) }
        let (_, inProcessSeconds) = try await Stopwatch.secondsAsync { () async throws -> Void in
            for request in requests { _ = try await enrollment.enroll(request) }
        }

        // The EST server, on TLS with a throwaway server identity.
        let tls = try serverIdentity(in: world.directory)
        let port = Int.random(in: 52_001...58_000)
        let app = try StatusServer.estApplication(
            .init(
                listener: .init(host: "127.0.0.1", port: port),
                tls: .init(certificateChain: tls.certificate, privateKey: tls.key),
                routes: ESTRoutes(enrollment: enrollment)),
            limits: ServerLimits(), logger: Logger(label: "bench"))
        let group = ServiceGroup(configuration: .init(services: [app], logger: .init(label: "bench")))
        let server = Task { try await group.run() }
        defer { server.cancel() }
        try await Task.sleep(for: .seconds(1))

        let client = try ESTClient(
            server: URL(string: "https://127.0.0.1:\(port)")!, serverTrust: [tls.ca],
            group: MultiThreadedEventLoopGroup.singleton)
        func agent(_ element: any SecureElement) -> DeviceAgent {
            DeviceAgent(
                element: element, client: client, domainTrust: [domain.caCertificate],
                retry: RetryPolicy(initialDelay: 0.1, maximumDelay: 1, maximumAttempts: 1),
                renewal: RenewalSchedule(.default), clock: SystemWallClock(), random: SystemRandomSource())
        }
        PeakMemory.reset()
        var results: [Level] = []
        var next = inProcess
        for level in levels {
            let batch = chipsOf[next..<(next + level.devices)].map(agent)
            next += level.devices
            let (handshake, handshakeSeconds) = try await timed(batch, concurrency: level.concurrency) {
                try await $0.checkCACertificates()
            }
            _ = handshake
            let (latencies, seconds) = try await timed(batch, concurrency: level.concurrency) {
                var attempts = DeviceAgent.Attempts()
                try await $0.enroll(attempts: &attempts, checkingCACertificates: false)
            }
            let sorted = latencies.sorted()
            results.append(
                Level(
                    concurrency: level.concurrency, devices: level.devices, rate: Double(level.devices) / seconds,
                    p50Milliseconds: sorted[sorted.count / 2] * 1000,
                    p99Milliseconds: sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))] * 1000,
                    handshakeRate: Double(level.devices) / handshakeSeconds))
        }
        let peak = PeakMemory.peakMiB()
        await group.triggerGracefulShutdown()
        return Result(inProcessRate: Double(inProcess) / inProcessSeconds, levels: results, peakMiB: peak)
    }

    /// Runs `operation` once per agent, at most `concurrency` at once: each one's latency, and the wall time.
    static func timed(
        _ agents: [DeviceAgent], concurrency: Int, _ operation: @escaping @Sendable (DeviceAgent) async throws -> Void
    ) async throws -> ([Double], Double) {
        try await Stopwatch.secondsAsync { () async throws -> [Double] in
            try await withThrowingTaskGroup(of: Double.self) { group in
                var pending = agents.makeIterator()
                var latencies: [Double] = []
                for _ in 0..<concurrency {
                    guard let agent = pending.next() else { break }
                    group.addTask { try await Stopwatch.secondsAsync { try await operation(agent) }.1 }
                }
                while let latency = try await group.next() {
                    latencies.append(latency)
                    if let agent = pending.next() {
                        group.addTask { try await Stopwatch.secondsAsync { try await operation(agent) }.1 }
                    }
                }
                return latencies
            }
        }
    }

    /// A first-enrollment request as the device SDK makes it: a new key in slot 1, bound by the factory key.
    static func request(_ element: any SecureElement) throws -> DeviceEnrollment.Request {
        let factory = try element.readCertificate(inSlot: 0)!
        _ = try element.generateKey(inSlot: 1)
        let csr = try RequestBuilder.enrollmentRequest(
            subject: factory.subject, key: try element.signingKey(inSlot: 1),
            bindingKey: try element.signingKey(inSlot: 0))
        return DeviceEnrollment.Request(
            clientCertificate: try factory.derBytes(), csr: try csr.derBytes(), peer: "127.0.0.1")
    }

    /// A TLS CA and a server certificate for 127.0.0.1 signed by it, as PEM files.
    static func serverIdentity(in directory: URL) throws -> (ca: Certificate, certificate: String, key: String) {
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("fleetkey-bench TLS CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(86_400), issuer: caName,
            subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
            }, issuerPrivateKey: .init(caKey))
        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(86_400), issuer: caName,
            subject: try DistinguishedName { CommonName("127.0.0.1") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
                try ExtendedKeyUsage([.serverAuth])
                Critical(KeyUsage(digitalSignature: true))
            }, issuerPrivateKey: .init(caKey))
        let certificate = directory.appendingPathComponent("est-server.pem")
        let key = directory.appendingPathComponent("est-server.key")
        try (try server.serializeAsPEM().pemString + "\n").write(to: certificate, atomically: true, encoding: .utf8)
        try (serverKey.pemRepresentation + "\n").write(to: key, atomically: true, encoding: .utf8)
        return (ca, certificate.path, key.path)
    }

    static func requireRecord(_ record: AuthorityRecord?) throws -> [UInt8] {
        guard let record else { throw FleetkeyError(.notFound, "the benchmark ecosystem has no root") }
        return record.certificateDER
    }
}
