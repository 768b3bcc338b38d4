import FleetkeyCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOSSL
import X509

/// EST (RFC 7030) under `/.well-known/est/`, for an owner's devices: `cacerts`, `csrattrs`, `simpleenroll` and
/// `simplereenroll`; `serverkeygen` is not offered (501), because a device's keys never leave its secure element.
///
/// Clients authenticate by TLS certificate only (no HTTP Basic). Handlers decode the base64 bodies (RFC 8951),
/// take the certificate the TLS session authenticated, call ``DeviceEnrollment`` and encode its answer; refusals go
/// through ``HTTPErrorMapping`` (401, 403 or 400 with a one-line reason).
package struct ESTRoutes: Sendable {
    package let enrollment: DeviceEnrollment

    package init(enrollment: DeviceEnrollment) {
        self.enrollment = enrollment
    }

    /// The largest request body accepted: a PKCS#10 request in base64 is a few KiB.
    static let maximumBody = 16 * 1024
    static let certsOnly = "application/pkcs7-mime; smime-type=certs-only"

    package func register(on router: Router<ESTRequestContext>) {
        router.add(middleware: ErrorMappingMiddleware(.plainText))
        let est = router.group("/.well-known/est")
        est.get("cacerts") { _, _ in
            try Self.base64Response(
                try CertsOnlyCMS(certificates: enrollment.caCertificates).derBytes(), Self.certsOnly)
        }
        est.get("csrattrs") { _, _ in
            try Self.base64Response(try ESTCSRAttributes().derBytes(), "application/csrattrs")
        }
        est.post("simpleenroll") { request, context in
            try Self.answer(try await enrollment.enroll(try await Self.enrollmentRequest(request, context: context)))
        }
        est.post("simplereenroll") { request, context in
            try Self.answer(try await enrollment.reenroll(try await Self.enrollmentRequest(request, context: context)))
        }
        est.post("serverkeygen") { _, _ -> Response in
            throw HTTPProblem(
                .notImplemented,
                message: "serverkeygen is not offered: a device makes its keys in its secure element, and they never "
                    + "leave it (RFC 7030 §4.4 is optional)")
        }
    }

    /// The request as the core takes it: the TLS client's certificate, the DER request, the peer's address.
    static func enrollmentRequest(_ request: Request, context: ESTRequestContext) async throws
        -> DeviceEnrollment.Request
    {
        // A body that cannot be a request is refused by the core like every other refusal: 400, and recorded.
        let contentType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        let body = try await request.body.collect(upTo: maximumBody)
        let der = Data(base64Encoded: String(buffer: body).filter { !$0.isWhitespace })
        let problem: String? =
            if contentType != "application/pkcs10" {
                "an EST request body is application/pkcs10 (RFC 7030 §4.2.1), not \(contentType ?? "untyped")"
            } else if der == nil || der?.isEmpty == true {
                "the body is not base64 (RFC 7030 §4.2.1, RFC 8951 §3)"
            } else {
                nil
            }
        let peerCertificate = try await context.channel.nioSSL_peerCertificate().get()
        return DeviceEnrollment.Request(
            clientCertificate: try peerCertificate.map { try $0.toDERBytes() }, csr: Array(der ?? Data()),
            peer: context.remoteAddress?.ipAddress ?? "unknown", bodyProblem: problem)
    }

    static func answer(_ outcome: DeviceEnrollment.Outcome) throws -> Response {
        switch outcome {
        case .issued(let certificate):
            return try base64Response(try CertsOnlyCMS(certificates: [certificate]).derBytes(), certsOnly)
        case .pending(let seconds):
            // RFC 7030 §4.2.3: accepted, not yet issued; the client tries again after Retry-After.
            return Response(
                status: .accepted, headers: [.retryAfter: "\(seconds)", .contentType: "text/plain; charset=utf-8"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: "enrollment waits for the owner's approval (fleetkey device commission); retry later\n")
                )
            )
        }
    }

    /// A DER body as EST sends it: base64 (RFC 8951 §3), in lines of 64 characters.
    static func base64Response(_ der: [UInt8], _ contentType: String) -> Response {
        let text = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed]) + "\n"
        return Response(
            status: .ok, headers: [.contentType: contentType, .contentTransferEncoding: "base64"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension HTTPField.Name {
    static let contentTransferEncoding = Self("Content-Transfer-Encoding")!
}

/// The request context of the EST listener: the channel, to read the certificate the TLS session authenticated,
/// and the client's address for the event log.
package struct ESTRequestContext: RequestContext, RemoteAddressRequestContext {
    package var coreContext: CoreRequestContextStorage
    package let remoteAddress: SocketAddress?
    package let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    package var maxUploadSize: Int { ESTRoutes.maximumBody }
}
