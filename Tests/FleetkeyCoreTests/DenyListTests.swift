import FleetkeyCore
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

@Suite("Deny lists")
struct DenyListTests {
    @Test("a full list names every revoked device, a delta only what came after, and both verify and round-trip")
    func fullAndDelta() async throws {
        let world = try await ThrowawayEcosystem.make()
        let store = try #require(world.registry as? any RegistryStore & RevocationStore)
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        for serial in ["D-1", "D-2", "D-3"] {
            _ = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: serial).der), by: authority)
        }
        let revoker = Revoker(store: store, clock: world.clock, actor: "test")
        let publisher = DenyListPublisher(store: store, policy: world.ecosystem.policy, clock: world.clock)
        _ = try await revoker.revoke(.device(serial: try DeviceSerial("D-2"), vendor: nil), reason: .keyCompromise)
        let first = try await publisher.denyList(authority)
        #expect(first.tbs.entries.map(\.device) == ["D-2"] && first.tbs.entries[0].reason == .keyCompromise)
        #expect(first.tbs.baseNumber == nil && first.isSignatureValid(issuer: authority.certificate))

        _ = try await revoker.revoke(.device(serial: try DeviceSerial("D-3"), vendor: nil), reason: .superseded)
        let delta = try await publisher.denyList(authority, since: first.tbs.number)
        #expect(delta.tbs.entries.map(\.device) == ["D-3"] && delta.tbs.baseNumber == first.tbs.number)
        #expect(delta.tbs.number > first.tbs.number)
        let full = try await publisher.denyList(authority)
        #expect(full.tbs.entries.map(\.device) == ["D-2", "D-3"])

        // DER round trip, byte for byte, and a changed byte breaks the signature.
        let der = try full.derBytes()
        let parsed = try DenyList(derEncoded: der)
        let reencoded = try parsed.derBytes()
        #expect(parsed == full && reencoded == der && parsed.isSignatureValid(issuer: authority.certificate))
        var tampered = der
        let at = try #require(Self.find(Array("D-3".utf8), in: tampered))
        tampered[at + 2] = UInt8(ascii: "9")
        #expect(try DenyList(derEncoded: tampered).isSignatureValid(issuer: authority.certificate) == false)
        // Another CA's key does not verify it.
        let root = try await world.ecosystem.authority(id: "root")
        #expect(!full.isSignatureValid(issuer: root.certificate))

        // A relying party cannot be ahead of the registry.
        let error = await #expect(throws: FleetkeyError.self) {
            _ = try await publisher.denyList(authority, since: full.tbs.number + 100)
        }
        #expect(error?.code == .invalidArgument)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }
}
