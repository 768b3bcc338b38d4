import FleetkeyCore
import Foundation
import NIOCore
import NIOHTTP1
import SwiftASN1
import X509

/// The EST operations a device uses (RFC 7030 §4): `cacerts`, `simpleenroll` and `simplereenroll`, with bodies in
/// base64 (RFC 8951) and answers decoded and checked.
public struct ESTClient: Sendable {
    let transport: ESTTransport

    /// - Parameters:
    ///   - server: `https://HOST:PORT` of the EST server; operations are under `/.well-known/est/`.
    ///   - serverTrust: the CA certificates the server's TLS certificate must chain to.
    public init(
        server: URL, serverTrust: [Certificate], group: any EventLoopGroup, timeout: Duration = .seconds(15)
    ) throws {
        guard server.scheme == "https", let host = server.host else {
            throw FleetkeyError(.invalidArgument, "EST server '\(server)' must be an https:// URL: EST runs over TLS")
        }
        guard !serverTrust.isEmpty else {
            throw FleetkeyError(.invalidArgument, "the EST client needs the CA certificates the server chains to")
        }
        let (seconds, attoseconds) = timeout.components
        transport = ESTTransport(
            host: host, port: server.port ?? 443, serverTrust: serverTrust, group: group,
            timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }

    /// `GET /cacerts` (RFC 7030 §4.1): the CA certificates, each of which must be one of `expected`, the domain CA
    /// certificates the device was given out of band.
    public func caCertificates(expected: [Certificate]) async throws -> [Certificate] {
        try await caCertificates(expected: expected, identity: nil)
    }

    /// As ``caCertificates(expected:)``, over a TLS session authenticated by `identity` when given.
    func caCertificates(expected: [Certificate], identity: ESTTransport.ClientIdentity?) async throws
        -> [Certificate]
    {
        let answer = try await transport.request(
            method: .GET, path: "/.well-known/est/cacerts", body: nil, contentType: nil, identity: identity)
        let certificates = try Self.certificates(of: answer)
        guard !certificates.isEmpty, certificates.allSatisfy({ expected.contains($0) }) else {
            throw ESTClientError.untrusted(
                "the server's /cacerts are not the domain CA this device was given: refusing to trust them")
        }
        return certificates
    }

    /// `POST /simpleenroll` or `/simplereenroll` with a DER PKCS#10 request, authenticated by `identity`.
    func enroll(_ operation: String, request der: [UInt8], identity: ESTTransport.ClientIdentity) async throws
        -> Certificate
    {
        let body = Array(Data(der).base64EncodedString(options: [.lineLength64Characters]).utf8)
        let answer = try await transport.request(
            method: .POST, path: "/.well-known/est/\(operation)", body: body, contentType: "application/pkcs10",
            identity: identity)
        let certificates = try Self.certificates(of: answer)
        guard let certificate = certificates.first else {
            throw ESTClientError.malformedAnswer("the answer holds no certificate")
        }
        return certificate
    }

    /// The certificates of a certs-only answer, or the error its status means.
    static func certificates(of answer: ESTTransport.Answer) throws -> [Certificate] {
        let reason = String(decoding: answer.body.prefix(300), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let retryAfter = answer.headers.first(name: "Retry-After").flatMap { Int($0) }
        switch answer.status {
        case 200: break
        case 202: throw ESTClientError.pending(retryAfterSeconds: retryAfter ?? 60)
        case 429, 500...599: throw ESTClientError.unavailable(status: answer.status, retryAfterSeconds: retryAfter)
        default: throw ESTClientError.refused(status: answer.status, reason: reason)
        }
        let text = String(decoding: answer.body, as: UTF8.self).filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: text) else {
            throw ESTClientError.malformedAnswer("the body is not base64")
        }
        do {
            return try CertsOnlyCMS(derEncoded: Array(der)).certificates
        } catch {
            throw ESTClientError.malformedAnswer("the body is not a certs-only CMS message (RFC 5652): \(error)")
        }
    }
}
