import FleetkeyCore
import FleetkeyServer
import FleetkeyTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The server signs no root CRL: it serves the one a key ceremony stored in the registry, picks up a newer one, and
/// warns on /healthz and /metrics while it is missing or near its nextUpdate.
@Suite("Root CRL from the registry, and the warnings about it")
struct RootCRLHealthTests {
    /// What `fleetkey crl publish --issuer root` does at a ceremony: sign with the root key, store in the registry.
    func ceremony(_ fixture: ServerFixture) async throws -> PublishedCRL {
        let root = try await fixture.ecosystem.rootAuthority()
        let published = try await CRLPublisher(
            store: fixture.registry, policy: fixture.ecosystem.policy, clock: fixture.clock
        )
        .publish(root)
        return try #require(published.first)
    }

    func get(_ client: some TestClientProtocol, _ path: String) async throws -> (status: Int, body: String) {
        let response = try await client.execute(uri: path, method: .get)
        return (response.status.code, String(buffer: response.body))
    }

    @Test("missing: /healthz warns, the gauge says 1, /crl/root.crl is 404; then a ceremony's CRL is served")
    func missingThenPublished() async throws {
        let fixture = try await ServerFixture(devices: 0)
        try await fixture.refresher.prepare()
        let app = try fixture.application()
        try await app.test(.router) { client in
            let health = try await get(client, "/healthz")
            #expect(health.status == 200)
            #expect(health.body.hasPrefix("warn\n") && health.body.contains("no root CRL is published"))
            #expect(try await get(client, "/metrics").body.contains("fleetkey_root_crl_warning 1"))
            #expect(try await get(client, "/crl/root.crl").status == 404)
            // The vendor's CRL is signed here all the same.
            #expect(try await get(client, "/crl/vendor-acme.crl").status == 200)

            let crl = try await ceremony(fixture)
            try await fixture.refresher.reloadRootCRL()
            let served = try await client.execute(uri: "/crl/root.crl", method: .get)
            #expect(Array(buffer: served.body) == crl.der)
            #expect(try await get(client, "/healthz").body == "ok\n")
            let metrics = try await get(client, "/metrics").body
            #expect(metrics.contains("fleetkey_root_crl_warning 0"))
            #expect(metrics.contains("fleetkey_root_crl_next_update_seconds \(crl.nextUpdate.timeIntervalSince1970)"))
        }
    }

    @Test("in the last quarter of its validity, and once expired, /healthz and /metrics warn")
    func nearNextUpdate() async throws {
        let fixture = try await ServerFixture(devices: 0)
        let crl = try await ceremony(fixture)
        try await fixture.refresher.prepare()
        let validity = crl.nextUpdate.timeIntervalSince(crl.thisUpdate)
        let app = try fixture.application()
        try await app.test(.router) { client in
            fixture.clock.advance(by: validity * 0.7)
            #expect(try await get(client, "/healthz").body == "ok\n")
            fixture.clock.advance(by: validity * 0.1)
            let near = try await get(client, "/healthz").body
            #expect(near.hasPrefix("warn\n") && near.contains("number \(crl.number)") && near.contains("day(s)"))
            #expect(try await get(client, "/metrics").body.contains("fleetkey_root_crl_warning 1"))
            fixture.clock.advance(by: validity * 0.3)
            #expect(try await get(client, "/healthz").body.contains("expired"))
            // A newer ceremony clears it.
            _ = try await ceremony(fixture)
            try await fixture.refresher.reloadRootCRL()
            #expect(try await get(client, "/healthz").body == "ok\n")
        }
    }
}
