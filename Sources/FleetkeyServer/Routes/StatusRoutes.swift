import FleetkeyCore
import Foundation
import Hummingbird
import NIOCore
import Prometheus

/// The public endpoints relying parties use: OCSP (RFC 6960, RFC 5019), CRLs and CA certificates
/// (RFC 5280 §4.2.1.13, §4.2.2.1), plus health and Prometheus metrics.
///
/// Handlers only decode the request, ask the core or the caches, and encode the answer.
public struct StatusRoutes: Sendable {
    public let ocsp: any OCSPAnswering
    public let crls: CRLDistribution
    public let store: any RegistryStore
    public let metrics: PrometheusCollectorRegistry

    /// RFC 5019 §5: an OCSP request body is small; anything larger is refused before it is read.
    static let maximumRequestBytes = 16 * 1024

    public init(
        ocsp: any OCSPAnswering, crls: CRLDistribution, store: any RegistryStore, metrics: PrometheusCollectorRegistry
    ) {
        self.ocsp = ocsp
        self.crls = crls
        self.store = store
        self.metrics = metrics
    }

    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/metrics") { _, _ in
            Self.response(self.metrics.emitToBuffer(), contentType: "text/plain; version=0.0.4")
        }
        router.post("/ocsp") { request, _ in try await self.answerPost(request) }
        router.post("/ocsp/:issuer") { request, _ in try await self.answerPost(request) }
        router.get("/ocsp/:issuer/**") { request, context in
            try await self.answerGet(context.parameters.getCatchAll().joined(separator: "/"))
        }
        router.get("/crl/:file") { _, context in
            let file = try context.parameters.require("file")
            guard let crl = self.crls.crl(named: file) else {
                throw HTTPError(.notFound, message: "no CRL named \(file)")
            }
            var response = Self.response(crl.der, contentType: "application/pkix-crl")
            response.headers[.cacheControl] = "max-age=\(max(0, Int(crl.nextUpdate.timeIntervalSinceNow / 2)))"
            return response
        }
        router.get("/ca/:file") { _, context in
            let file = try context.parameters.require("file")
            guard file.hasSuffix(".cer"), let authority = try await self.store.authority(id: String(file.dropLast(4)))
            else {
                throw HTTPError(.notFound, message: "no CA certificate named \(file)")
            }
            return Self.response(authority.certificateDER, contentType: "application/pkix-cert")
        }
    }

    func answerPost(_ request: Request) async throws -> Response {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/ocsp-request") ?? true else {
            throw HTTPError(
                .unsupportedMediaType, message: "OCSP requests are application/ocsp-request (RFC 6960 §A.1)")
        }
        let body = try await request.body.collect(upTo: Self.maximumRequestBytes)
        return Self.ocspResponse(await ocsp.respond(to: Array(buffer: body)), cacheable: false)
    }

    /// RFC 6960 §A.1: GET {url}/{url-encoding of base-64 encoding of the DER encoding of the OCSPRequest}.
    func answerGet(_ encoded: String) async throws -> Response {
        let base64 = (encoded.removingPercentEncoding ?? encoded)
        guard let der = Data(base64Encoded: base64) ?? Data(base64Encoded: Self.standardBase64(base64)) else {
            // Not base64 at all: still an OCSP client talking to us, so answer malformedRequest.
            return Self.ocspResponse(await ocsp.respond(to: []), cacheable: false)
        }
        return Self.ocspResponse(await ocsp.respond(to: Array(der)), cacheable: true)
    }

    static func standardBase64(_ text: String) -> String {
        var value = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while value.count % 4 != 0 { value += "=" }
        return value
    }

    /// RFC 5019 §6.2: GET answers without a nonce may be cached by HTTP caches until nextUpdate.
    static func ocspResponse(_ answer: OCSPResponderAnswer, cacheable: Bool) -> Response {
        var response = response(answer.der, contentType: "application/ocsp-response")
        if cacheable, !answer.echoesNonce, let produced = answer.producedAt, let next = answer.nextUpdate {
            response.headers[.lastModified] = httpDate(produced)
            response.headers[.expires] = httpDate(next)
            response.headers[.cacheControl] =
                "max-age=\(max(0, Int(next.timeIntervalSinceNow))), public, no-transform, must-revalidate"
        } else {
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    static func response(_ bytes: [UInt8], contentType: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: contentType],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
