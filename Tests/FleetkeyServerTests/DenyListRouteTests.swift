import FleetkeyCore
import FleetkeyServer
import FleetkeyTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import SwiftASN1
import Testing

/// `/denylist/ISSUER` and `/denylist/ISSUER?since=N`: signed by the vendor CA, cached by base number with the
/// caching headers of CRLs, and made afresh once a revocation is seen.
@Suite("Deny-list routes")
struct DenyListRouteTests {
    static func list(_ response: TestResponse) throws -> DenyList {
        try DenyList(derEncoded: Array(buffer: response.body))
    }

    @Test("the full list and a delta, signed by the vendor CA, cached per base until a revocation is seen")
    func fullAndDelta() async throws {
        let fixture = try await ServerFixture(devices: 3)
        try await fixture.refresher.prepare()
        try await fixture.revoke(fixture.devices[0])
        let app = try fixture.application()
        try await app.test(.router) { client in
            let full = try await client.execute(uri: "/denylist/vendor-acme", method: .get)
            #expect(full.status == .ok)
            #expect(full.headers[.contentType] == StatusRoutes.denyListContentType)
            #expect(full.headers[.cacheControl]?.hasPrefix("max-age=") == true)
            #expect(full.headers[.lastModified] != nil && full.headers[.expires] != nil)
            let first = try Self.list(full)
            #expect(first.isSignatureValid(issuer: fixture.vendorCA))
            #expect(first.tbs.baseNumber == nil)
            #expect(first.tbs.entries.map(\.device) == ["RT-0"])

            // Asked again: the same signed bytes, from the cache, even after the clock moves a little.
            fixture.clock.advance(by: 60)
            let again = try await client.execute(uri: "/denylist/vendor-acme", method: .get)
            #expect(Array(buffer: again.body) == Array(buffer: full.body))

            // A revocation, seen by the refresher, makes both lists anew.
            let since = try await client.execute(uri: "/denylist/vendor-acme?since=\(first.tbs.number)", method: .get)
            #expect(try Self.list(since).tbs.entries.isEmpty)
            try await fixture.revoke(fixture.devices[2], reason: .superseded)
            try await fixture.refresher.refresh()
            let delta = try Self.list(
                try await client.execute(uri: "/denylist/vendor-acme?since=\(first.tbs.number)", method: .get))
            #expect(delta.isSignatureValid(issuer: fixture.vendorCA))
            #expect(delta.tbs.baseNumber == first.tbs.number && delta.tbs.number > first.tbs.number)
            #expect(delta.tbs.entries.map(\.device) == ["RT-2"])
            #expect(delta.tbs.entries.first?.reason == .superseded)
            let refreshed = try Self.list(try await client.execute(uri: "/denylist/vendor-acme", method: .get))
            #expect(refreshed.tbs.entries.map(\.device) == ["RT-0", "RT-2"])
        }
    }

    @Test("a bad since is 400 naming the field, a base beyond the registry is 400, an unknown issuer 404")
    func refusals() async throws {
        let fixture = try await ServerFixture(devices: 0)
        let app = try fixture.application()
        try await app.test(.router) { client in
            for bad in ["-1", "ten", "1.5", ""] {
                let response = try await client.execute(uri: "/denylist/vendor-acme?since=\(bad)", method: .get)
                #expect(response.status == .badRequest, "since=\(bad)")
                #expect(String(buffer: response.body).contains("since"))
            }
            let ahead = try await client.execute(uri: "/denylist/vendor-acme?since=999999999", method: .get)
            #expect(ahead.status == .badRequest)
            #expect(String(buffer: ahead.body).contains("newer than the registry"))
            let unknown = try await client.execute(uri: "/denylist/vendor-nobody", method: .get)
            #expect(unknown.status == .notFound)
            #expect(String(buffer: unknown.body).contains("vendor-acme"))
        }
    }

    @Test("deltas not cached yet cost the client's signatures: beyond its budget, 429 with Retry-After")
    func deltasAreRateLimited() async throws {
        let limits = ServerLimits(signaturesPerClientPerSecond: 0.001, signatureBurstPerClient: 2)
        let fixture = try await ServerFixture(devices: 0, limits: limits)
        let app = try fixture.application(limits: limits)
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/denylist/vendor-acme?since=1", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/denylist/vendor-acme?since=2", method: .get).status == .ok)
            let refused = try await client.execute(uri: "/denylist/vendor-acme?since=3", method: .get)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] != nil)
            // Cached bases are still served.
            #expect(try await client.execute(uri: "/denylist/vendor-acme?since=1", method: .get).status == .ok)
        }
    }
}
