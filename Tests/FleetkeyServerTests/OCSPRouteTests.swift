import FleetkeyCore
import FleetkeyServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwiftASN1
import Testing
import X509

/// The OCSP routes through Hummingbird's router: GET paths read raw (RFC 5019 §5), content types, body caps, and
/// what a client's signatures cost.
@Suite("OCSP routes")
struct OCSPRouteTests {
    /// Requests about `certificate` with a random nonce, until one's base64 satisfies `wanted`.
    static func request(
        _ fixture: ServerFixture, about certificate: Certificate, where wanted: (String) -> Bool
    ) throws -> (der: [UInt8], base64: String, nonce: OCSPNonce) {
        for _ in 0..<200_000 {
            // Lengths vary too: a trailing "/" needs a DER length divisible by 3 (no padding).
            let nonce = try OCSPNonce((0..<Int.random(in: 8...40)).map { _ in UInt8.random(in: 0...255) })
            let der = try fixture.request(certificate, nonce: nonce)
            let base64 = Data(der).base64EncodedString()
            if wanted(base64) { return (der, base64, nonce) }
        }
        throw FleetkeyError(.notFound, "no request with the wanted base64 in 200,000 tries")
    }

    static func percentEncoded(_ base64: String) -> String {
        base64.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? base64
    }

    @Test(
        "GET answers base64 with //, a trailing /, + and =, raw and percent-encoded, with or without the issuer"
    )
    func getReadsRawPath() async throws {
        let fixture = try await ServerFixture(devices: 1)
        let device = fixture.devices[0]
        let cases = [
            try Self.request(fixture, about: device) { $0.contains("//") },
            try Self.request(fixture, about: device) { $0.hasSuffix("/") },
            try Self.request(fixture, about: device) { $0.contains("+") && $0.hasSuffix("=") },
        ]
        let app = try fixture.application()
        try await app.test(.router) { client in
            for (_, base64, nonce) in cases {
                for path in [
                    "/ocsp/vendor-acme/\(base64)", "/ocsp/\(base64)",
                    "/ocsp/vendor-acme/\(Self.percentEncoded(base64))",
                    "/ocsp/\(Self.percentEncoded(base64))",
                ] {
                    let response = try await client.execute(uri: path, method: .get)
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "application/ocsp-response")
                    let der = Array(buffer: response.body)
                    let verified = try fixture.verify(der, nonce: nonce)
                    #expect(verified.status(of: device.serialNumber) == .good, "\(path)")
                }
            }
        }
    }

    @Test("POST needs application/ocsp-request (415) and at most 16 KiB (413); GET routes take no body")
    func contentTypeAndBodyCaps() async throws {
        let fixture = try await ServerFixture(devices: 1)
        let der = try fixture.request(fixture.devices[0])
        let app = try fixture.application()
        try await app.test(.router) { client in
            for headers: HTTPFields in [[:], [.contentType: "text/plain"], [.contentType: "application/json"]] {
                let refused = try await client.execute(
                    uri: "/ocsp", method: .post, headers: headers, body: ByteBuffer(bytes: der))
                #expect(refused.status == .unsupportedMediaType)
                #expect(String(buffer: refused.body).contains("application/ocsp-request"))
            }
            let accepted = try await client.execute(
                uri: "/ocsp/vendor-acme", method: .post,
                headers: [.contentType: "application/ocsp-request; charset=binary"], body: ByteBuffer(bytes: der))
            #expect(accepted.status == .ok)
            #expect(
                try fixture.verify(Array(buffer: accepted.body)).status(of: fixture.devices[0].serialNumber) == .good)

            let large = ByteBuffer(bytes: [UInt8](repeating: 0x30, count: 16 * 1024 + 1))
            let tooLarge = try await client.execute(
                uri: "/ocsp", method: .post, headers: [.contentType: "application/ocsp-request"], body: large)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(String(buffer: tooLarge.body).contains("16384 octets"))

            let withBody = try await client.execute(
                uri: "/healthz", method: .get, headers: [.contentType: "text/plain"],
                body: ByteBuffer(string: "hello"))
            #expect(withBody.status == .contentTooLarge)
        }
    }

    static func post(_ client: some TestClientProtocol, _ der: [UInt8]) async throws -> OCSPResponse {
        let response = try await client.execute(
            uri: "/ocsp", method: .post, headers: [.contentType: "application/ocsp-request"],
            body: ByteBuffer(bytes: der))
        #expect(response.status == .ok)
        return try OCSPResponse(derEncoded: Array(buffer: response.body))
    }

    @Test("once a client's signatures are spent, nonces are ignored, several CertIDs get tryLater, cache hits go on")
    func signaturesAreRateLimited() async throws {
        let limits = ServerLimits(signaturesPerClientPerSecond: 0.001, signatureBurstPerClient: 2)
        let fixture = try await ServerFixture(devices: 3, limits: limits)
        let app = try fixture.application(limits: limits)
        let devices = fixture.devices
        let several = try OCSPRequestBuilder.request(
            issuer: fixture.vendorCA, serials: devices.map(\.serialNumber)
        ).derBytes()
        try await app.test(.router) { client in
            // One cache miss (signed and cached), then one multi-certificate request: the burst of two is spent.
            #expect(try await Self.post(client, try fixture.request(devices[0])).responseStatus == .successful)
            #expect(try await Self.post(client, several).responseStatus == .successful)
            // Spent: several CertIDs are tryLater, a new serial too, and a nonce is left out of a cached answer.
            #expect(try await Self.post(client, several).responseStatus == .tryLater)
            #expect(try await Self.post(client, try fixture.request(devices[1])).responseStatus == .tryLater)
            let nonce = try OCSPNonce(Array(repeating: 7, count: 16))
            let answer = try await Self.post(client, try fixture.request(devices[0], nonce: nonce))
            #expect(answer.responseStatus == .successful)
            let basic = try #require(answer.responseBytes).basicResponse()
            #expect(basic.responseData.responseExtensions?[oid: FleetkeyOID.ocspNonce] == nil)
            #expect(try fixture.verify(try answer.derBytes()).status(of: devices[0].serialNumber) == .good)
            // The cached answer itself costs nothing.
            #expect(try await Self.post(client, try fixture.request(devices[0])).responseStatus == .successful)
        }
    }

    @Test("an unknown serial's answer is cached like the others: asking again makes no signature")
    func unknownIsCached() async throws {
        let limits = ServerLimits(signaturesPerClientPerSecond: 0.001, signatureBurstPerClient: 1)
        let fixture = try await ServerFixture(devices: 1, limits: limits)
        let never = Certificate.SerialNumber(bytes: [0x4E, 0x45, 0x56, 0x45, 0x52])
        let der = try OCSPRequestBuilder.requestDER(issuer: fixture.vendorCA, serial: never)
        let app = try fixture.application(limits: limits)
        try await app.test(.router) { client in
            for _ in 0..<3 {
                let response = try await client.execute(
                    uri: "/ocsp/vendor-acme/\(Data(der).base64EncodedString())", method: .get)
                let verified = try fixture.verify(Array(buffer: response.body))
                #expect(verified.status(of: never) == .unknown)
            }
        }
        #expect(fixture.responder.cacheStatistics.hits == 2)
    }
}
