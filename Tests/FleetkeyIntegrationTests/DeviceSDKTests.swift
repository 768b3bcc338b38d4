import FleetkeyCore
import FleetkeyCustody
import FleetkeyDevice
import FleetkeySQLite
import FleetkeyTesting
import Foundation
import NIOPosix
import Testing
import X509

/// The device SDK's own rules (backoff, renewal time) and its agent against a live `fleetkey serve --est`.
@Suite("Device SDK", .serialized)
struct DeviceSDKTests {
    @Test("backoff doubles up to its cap with jitter of half to all of it, and a Retry-After is honoured as given")
    func backoff() {
        let policy = RetryPolicy(initialDelay: 1, maximumDelay: 8, maximumAttempts: 10)
        let random = SeededRandomSource(seed: 7)
        for attempt in 1...8 {
            let ceiling = min(8, pow(2, Double(attempt - 1)))
            let delay = policy.delay(after: attempt, error: .transport("down"), random: random)
            #expect(delay >= ceiling / 2 && delay <= ceiling, "attempt \(attempt): \(delay)")
        }
        #expect(policy.delay(after: 9, error: .pending(retryAfterSeconds: 30), random: random) == 30)
        #expect(policy.delay(after: 1, error: .unavailable(status: 503, retryAfterSeconds: 12), random: random) == 12)
        #expect(!ESTClientError.refused(status: 403, reason: "no").isRetryable)
        #expect(ESTClientError.unavailable(status: 503, retryAfterSeconds: nil).isRetryable)
    }

    @Test("renewal falls after the policy's fraction of the lifetime, within its jitter, and spreads a fleet")
    func renewalWindow() {
        let schedule = RenewalSchedule(fraction: 0.66, jitter: 0.1)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let end = start.addingTimeInterval(30 * 86_400)
        let random = SeededRandomSource(seed: 11)
        let times = (0..<200).map { _ in schedule.renewalTime(notBefore: start, notAfter: end, random: random) }
        let lifetime = end.timeIntervalSince(start)
        #expect(times.allSatisfy { $0 >= start.addingTimeInterval(0.66 * lifetime) })
        #expect(times.allSatisfy { $0 <= start.addingTimeInterval(0.76 * lifetime) })
        #expect(Set(times.map { Int($0.timeIntervalSince1970) / 3600 }).count > 20, "a fleet renews in one wave")
    }

    @Test("an agent enrolls, then renews on its own schedule; it refuses a server whose /cacerts is another CA")
    func agentRenewsOnItsOwn() async throws {
        let fixture = try ESTEnrollmentTests.Fixture()
        // Short-lived LDevIDs (65 s, 60 of them backdated) renew at once, so run() renews in a loop.
        try fixture.editPolicy { policy in
            var profiles = policy["profiles"] as! [String: Any]
            var ldevid = profiles["ldevid"] as! [String: Any]
            ldevid["validitySeconds"] = 65
            profiles["ldevid"] = ldevid
            policy["profiles"] = profiles
        }
        let elements = EmulatedElementSource(directory: URL(fileURLWithPath: "\(fixture.eco.dir)/elements/vendor-acme"))
        let element = try #require(try elements.existingElement("vendor-acme.L1-000005"))
        let domainCA = try PEMOrDER.certificate(
            Array(try Data(contentsOf: URL(fileURLWithPath: "\(fixture.owner)/certs/domain-ca.pem"))), source: "ca")
        let tlsCA = try PEMOrDER.certificate(
            Array(try Data(contentsOf: URL(fileURLWithPath: fixture.eco.file("tls-ca.pem")))), source: "tls")
        let client = try ESTClient(
            server: URL(string: "https://127.0.0.1:\(fixture.estPort)")!, serverTrust: [tlsCA],
            group: MultiThreadedEventLoopGroup.singleton)
        func agent(trusting domain: Certificate) -> DeviceAgent {
            DeviceAgent(
                element: element, client: client, domainTrust: [domain],
                retry: RetryPolicy(initialDelay: 0.2, maximumDelay: 1, maximumAttempts: 3),
                renewal: RenewalSchedule(fraction: 0.66, jitter: 0.1), clock: SystemWallClock(),
                random: SystemRandomSource())
        }
        // Told to trust another domain CA, the agent refuses the server's /cacerts and enrolls nothing.
        var attempts = DeviceAgent.Attempts()
        await #expect(throws: ESTClientError.self) {
            try await agent(trusting: fixture.eco.certificate(pem: fixture.eco.rootPEM)).enroll(attempts: &attempts)
        }
        #expect(try element.readCertificate(inSlot: 1) == nil)

        let running = Task { try await agent(trusting: domainCA).run() }
        var serials = Set<String>()
        for _ in 0..<100 where serials.count < 3 {
            try await Task.sleep(for: .milliseconds(200))
            if let held = try element.readCertificate(inSlot: 1) { serials.insert(held.serialNumber.hexString) }
        }
        running.cancel()
        #expect(serials.count >= 3, "the agent enrolled and renewed \(serials.count - 1) time(s)")
        let registry = try fixture.registry
        for serial in serials {
            #expect(try await registry.certificate(issuer: Ecosystem.domainCAID, serial: serial) != nil)
        }
        #expect(try await fixture.state("L1-000005") == .active)
    }
}

extension DeviceSDKTests {
    /// In a `fleetkey simulate` process of its own: SoftHSM2 reads its configuration once per process, and other
    /// suites of this test process use tokens of their own.
    @Test("devices whose elements are on a PKCS#11 token enroll and renew: their keys and TLS signatures stay there")
    func agentOnToken() async throws {
        let hsm = try SoftHSMTokens(labels: ["device-elements"])
        let fixture = try ESTEnrollmentTests.Fixture(environment: hsm.environment)
        let token = "pkcs11:token=device-elements?module-path=\(SoftHSMTokens.modulePath)"
        let result = try fixture.eco.fleetkey([
            "simulate", "--devices", "3", "--concurrency", "3", "--element", token, "--lot", "T1", "--server",
            "https://127.0.0.1:\(fixture.estPort)", "--owner", fixture.owner, "--server-trust",
            fixture.eco.file("tls-ca.pem"), "--json",
        ])
        #expect(result.status == 0, "\(result.output.suffix(2000))")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(report?["operations"] as? Int == 6 && report?["errors"] as? [String: Int] == [:])
        try await SimulateTests.expectFleetEnrolled(fixture.owner, lot: "T1", count: 3)
        // The keys are on the token: the emulator directory holds no element of the lot.
        let emulated =
            (try? FileManager.default.contentsOfDirectory(atPath: "\(fixture.eco.dir)/elements/vendor-acme"))
            ?? []
        #expect(!emulated.contains { $0.contains(".T1-") })
    }
}

extension CLIEcosystem {
    func certificate(pem path: String) throws -> Certificate {
        try PEMOrDER.certificate(Array(try Data(contentsOf: URL(fileURLWithPath: path))), source: path)
    }
}
