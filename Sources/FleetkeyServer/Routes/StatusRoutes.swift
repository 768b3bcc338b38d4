import FleetkeyCore
import Foundation
import Hummingbird
import NIOCore
import Prometheus

/// The public endpoints relying parties use: OCSP (RFC 6960, RFC 5019), CRLs and CA certificates
/// (RFC 5280 §4.2.1.13, §4.2.2.1), deny lists, plus health and Prometheus metrics.
///
/// Handlers only decode the request, ask the core or the in-memory tables, and encode the answer. Every HTTP error
/// goes through ``HTTPErrorMapping`` as plain text (``ErrorMappingMiddleware``), and what a request may cost is
/// bounded: bodies per route (413), content types (415), and signatures per client (``ClientRateLimiter``: OCSP
/// answers `tryLater`, deny lists 429).
package struct StatusRoutes: Sendable {
    package let ocsp: any OCSPAnswering
    package let crls: CRLDistribution
    package let caCertificates: CACertificates
    package let denyLists: DenyListDistribution?
    package let health: StatusHealth?
    package let metrics: PrometheusCollectorRegistry
    package let rateLimiter: ClientRateLimiter
    /// The authority identifiers an OCSP GET path may name before the request (`/ocsp/vendor-acme/MEIw…`).
    package let ocspPathIssuers: Set<String>
    let clock: any WallClock

    package init(
        ocsp: any OCSPAnswering, crls: CRLDistribution, caCertificates: CACertificates = CACertificates(),
        denyLists: DenyListDistribution? = nil, health: StatusHealth? = nil, metrics: PrometheusCollectorRegistry,
        rateLimiter: ClientRateLimiter, ocspPathIssuers: Set<String> = [],
        clock: any WallClock
    ) {
        self.ocsp = ocsp
        self.crls = crls
        self.caCertificates = caCertificates
        self.denyLists = denyLists
        self.health = health
        self.metrics = metrics
        self.rateLimiter = rateLimiter
        self.ocspPathIssuers = ocspPathIssuers.union(["root"])
        self.clock = clock
    }

    /// Registers the public routes, and `/metrics` among them unless it has a listener of its own.
    package func register<Context: RequestContext>(on router: Router<Context>, includingMetrics: Bool = true) {
        router.add(middleware: ErrorMappingMiddleware(.plainText))
        router.get("/healthz") { request, _ in
            try Self.refuseBody(request)
            return self.healthResponse()
        }
        if includingMetrics { registerMetrics(on: router) }
        router.post("/ocsp") { request, context in try await self.answerPost(request, context: context) }
        router.post("/ocsp/**") { request, context in try await self.answerPost(request, context: context) }
        router.get("/ocsp/**") { request, context in
            try Self.refuseBody(request)
            return await self.answerGet(rawPath: request.uri.path, context: context)
        }
        router.get("/crl/:file") { request, context in
            try Self.refuseBody(request)
            let file = try context.parameters.require("file")
            guard let crl = self.crls.crl(named: file) else {
                throw HTTPProblem(.notFound, message: "no CRL named \(file)")
            }
            return self.publishedListResponse(
                crl.der, contentType: "application/pkix-crl", thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate)
        }
        router.get("/ca/:file") { request, context in
            try Self.refuseBody(request)
            let file = try context.parameters.require("file")
            guard let der = self.caCertificates.certificate(named: file) else {
                throw HTTPProblem(.notFound, message: "no CA certificate named \(file)")
            }
            return Self.response(der, contentType: "application/pkix-cert")
        }
        router.get("/denylist/:issuer") { request, context in
            try Self.refuseBody(request)
            return try await self.answerDenyList(
                request, issuer: try context.parameters.require("issuer"), context: context)
        }
    }

    /// Registers `/metrics` alone: on the public router, or on the listener `--metrics-listen` names.
    package func registerMetrics<Context: RequestContext>(on router: Router<Context>) {
        router.get("/metrics") { request, _ in
            try Self.refuseBody(request)
            self.health?.refreshGauges()
            return Self.response(self.metrics.emitToBuffer(), contentType: "text/plain; version=0.0.4")
        }
    }

    // MARK: Health

    /// `ok`, or `warn` followed by one line per warning; 200 either way, since the server still answers.
    func healthResponse() -> Response {
        let warnings = health?.warnings() ?? []
        let text = warnings.isEmpty ? "ok\n" : "warn\n" + warnings.map { "- \($0)\n" }.joined()
        return Self.response(Array(text.utf8), contentType: "text/plain; charset=utf-8")
    }

    // MARK: OCSP

    func answerPost(_ request: Request, context: some RequestContext) async throws -> Response {
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/ocsp-request" else {
            throw HTTPProblem(
                .unsupportedMediaType,
                message: "an OCSP request is posted as Content-Type: application/ocsp-request (RFC 6960 §A.1)",
                field: "Content-Type")
        }
        let limit = RouteBodyLimits.ocspRequest
        let tooLarge = HTTPProblem(
            .contentTooLarge, message: "an OCSP request is at most \(limit) octets here (RFC 5019 §5)", field: "body")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        let client = ClientRateLimiter.ClientKey(Self.remoteAddress(context))
        let answer = await ocsp.respond(to: Array(buffer: body)) { self.rateLimiter.allow(client) }
        return Self.ocspResponse(answer, cacheable: false, now: clock.now())
    }

    /// RFC 6960 §A.1: GET {url}/{url-encoding of base-64 encoding of the DER encoding of the OCSPRequest}.
    func answerGet(rawPath: String, context: some RequestContext) async -> Response {
        let client = ClientRateLimiter.ClientKey(Self.remoteAddress(context))
        // Not base64 at all: still an OCSP client talking to us, so answer malformedRequest.
        let der = Self.ocspRequest(fromPath: rawPath, issuers: ocspPathIssuers) ?? []
        let answer = await ocsp.respond(to: der) { self.rateLimiter.allow(client) }
        return Self.ocspResponse(answer, cacheable: !der.isEmpty, now: clock.now())
    }

    /// The DER OCSPRequest of a GET path, read from the raw path: `/ocsp/BASE64` or `/ocsp/ISSUER/BASE64`.
    ///
    /// RFC 5019 §5: clients send the base64 raw (with `/`, `+` and `=`) or percent-encoded, so the path is not split
    /// into components (that would lose `//` inside the base64, and a trailing `/`); one leading segment is taken as
    /// the issuer only when it names one in `issuers` (a DER request's base64 starts with `M`, never an issuer
    /// identifier). base64url is accepted too. `nil` when there is no decodable base64.
    static func ocspRequest(fromPath rawPath: String, issuers: Set<String>) -> [UInt8]? {
        let prefix = "/ocsp/"
        guard rawPath.hasPrefix(prefix) else { return nil }
        var encoded = Substring(rawPath.dropFirst(prefix.count))
        if let slash = encoded.firstIndex(of: "/"), issuers.contains(String(encoded[..<slash])) {
            encoded = encoded[encoded.index(after: slash)...]
        }
        guard !encoded.isEmpty, let base64 = encoded.contains("%") ? encoded.removingPercentEncoding : String(encoded)
        else { return nil }
        guard let der = Data(base64Encoded: base64) ?? Data(base64Encoded: standardBase64(base64)), !der.isEmpty
        else { return nil }
        return Array(der)
    }

    static func standardBase64(_ text: String) -> String {
        var value = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while value.count % 4 != 0 { value += "=" }
        return value
    }

    /// RFC 5019 §6.2: GET answers without a nonce may be cached by HTTP caches until nextUpdate.
    static func ocspResponse(_ answer: OCSPResponderAnswer, cacheable: Bool, now: Date) -> Response {
        var response = response(answer.der, contentType: "application/ocsp-response")
        if cacheable, !answer.echoesNonce, let produced = answer.producedAt, let next = answer.nextUpdate {
            response.headers[.lastModified] = httpDate(produced)
            response.headers[.expires] = httpDate(next)
            response.headers[.cacheControl] =
                "max-age=\(max(0, Int(next.timeIntervalSince(now)))), public, no-transform, must-revalidate"
        } else {
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }

    // MARK: Deny lists

    func answerDenyList(_ request: Request, issuer: String, context: some RequestContext) async throws -> Response {
        var base: Int64?
        if let since = request.uri.queryParameters["since"] {
            guard let number = Int64(since), number >= 0 else {
                throw HTTPProblem(
                    .badRequest, code: FleetkeyError.Code.invalidArgument.name,
                    message: "since must be a deny list number, 0 or more, not '\(since)'", field: "since")
            }
            base = number
        }
        let client = ClientRateLimiter.ClientKey(Self.remoteAddress(context))
        let found: DenyListDistribution.Served?
        do {
            found = try await denyLists?.list(
                issuer: issuer, since: base, allowingFreshSignature: { self.rateLimiter.allow(client) })
        } catch var problem as HTTPProblem where problem.status == .tooManyRequests {
            problem.headers[.retryAfter] = "\(rateLimiter.retryAfterSeconds())"
            throw problem
        }
        guard let served = found else {
            throw HTTPProblem(
                .notFound,
                message: "no deny list for '\(issuer)'; deny lists are served for "
                    + ((denyLists?.issuers ?? []).isEmpty ? "no issuer" : denyLists!.issuers.joined(separator: ", ")))
        }
        return publishedListResponse(
            served.der, contentType: Self.denyListContentType, thisUpdate: served.thisUpdate,
            nextUpdate: served.nextUpdate)
    }

    /// The media type of a deny list (DER, docs/revocation.md, "Deny lists").
    package static let denyListContentType = "application/vnd.fleetkey.deny-list+der"

    // MARK: Encoding

    /// A CRL or a deny list: cacheable by anyone until the server would re-sign it (half its remaining validity),
    /// with Last-Modified (thisUpdate) and Expires (nextUpdate).
    func publishedListResponse(_ der: [UInt8], contentType: String, thisUpdate: Date, nextUpdate: Date) -> Response {
        var response = Self.response(der, contentType: contentType)
        response.headers[.lastModified] = Self.httpDate(thisUpdate)
        response.headers[.expires] = Self.httpDate(nextUpdate)
        response.headers[.cacheControl] =
            "max-age=\(max(0, Int(nextUpdate.timeIntervalSince(clock.now()) / 2))), public, no-transform"
        return response
    }

    /// GET routes take no request body: one announced is refused before it is read.
    static func refuseBody(_ request: Request) throws {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > RouteBodyLimits.none {
            throw HTTPProblem(.contentTooLarge, message: "this route takes no request body", field: "body")
        }
    }

    static func remoteAddress(_ context: some RequestContext) -> SocketAddress? {
        (context as? any RemoteAddressRequestContext)?.remoteAddress
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
