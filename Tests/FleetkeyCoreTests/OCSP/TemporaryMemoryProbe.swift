@testable import FleetkeyCore
import Foundation
import Testing
import X509

@Suite struct TemporaryMemoryProbe {
    static func rss() -> Int {
        let text = try! String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        return Int(text.split(separator: " ")[1])! * 4096
    }

    @Test func probe() async throws {
        let fixture = try await OCSPFixture.make(devices: 1)
        fixture.markGood(fixture.devices[0])
        let answer = await try fixture.responder().respond(to: try OCSPRequestBuilder.requestDER(issuer: fixture.vendorCA, serial: fixture.devices[0].serialNumber))
        let basic = try OCSPResponse(derEncoded: answer.der).responseBytes!.basicResponse()
        let body = basic.responseDataBytes.count + 12 + 2 + 1 + basic.signature.count
        print("PROBE der=\(answer.der.count) body=\(body)")
        let count = 1 << 20
        var cache = OCSPResponseCache(capacity: count)
        let before = Self.rss()
        for index in 0..<count {
            var serial = [UInt8](repeating: 0x55, count: 16)
            serial[12] = UInt8(truncatingIfNeeded: index >> 24); serial[13] = UInt8(truncatingIfNeeded: index >> 16)
            serial[14] = UInt8(truncatingIfNeeded: index >> 8); serial[15] = UInt8(truncatingIfNeeded: index)
            let key = OCSPCacheKey(issuer: 0, variant: OCSPHashAlgorithmIdentifier(.sha1), serial: serial)!
            var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: body)
            bytes[0] = 1
            _ = cache.insert(key, body: bytes, producedAt: 0, nextUpdate: 1 << 40, readAtEpoch: 0)
        }
        let after = Self.rss()
        print("PROBE entries=\(cache.count) rssDelta=\(after - before) perEntry=\((after - before) / cache.count)")
    }
}
