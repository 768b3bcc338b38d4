import FleetkeyCore
import FleetkeyServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// One mapping from errors to HTTP answers: Fleetkey's codes to statuses, plain text for the status routes, JSON for
/// API routes, and a bare 500 for anything unexpected.
@Suite("HTTP error mapping")
struct ErrorMappingTests {
    struct Leaky: Error, CustomStringConvertible {
        var description: String { "connection to /var/lib/fleetkey/registry.sqlite failed: disk I/O error" }
    }

    @Test(
        "each Fleetkey error code has its status",
        arguments: [
            (FleetkeyError.Code.malformedInput, 400), (.invalidArgument, 400), (.notFound, 404), (.alreadyExists, 409),
            (.conflict, 409), (.invalidTransition, 409), (.proofOfPossessionFailed, 422), (.algorithmNotAllowed, 422),
            (.subjectRejected, 422), (.lintFailed, 422), (.attestationRejected, 422), (.manifestRejected, 422),
            (.statusNotVerified, 422), (.storage, 503), (.custodyUnavailable, 503), (.configuration, 500),
            (.keyAccessDenied, 500), (.custodyNotProven, 500),
        ])
    func statuses(_ code: FleetkeyError.Code, _ status: Int) {
        #expect(HTTPErrorMapping.status(for: code).code == status)
        #expect(HTTPErrorMapping().problem(for: FleetkeyError(code, "reason")).code == code.name)
    }

    @Test("a 4xx says what was wrong; a 5xx and any other error say nothing of the server's insides")
    func messages() throws {
        let mapping = HTTPErrorMapping()
        let refused = mapping.problem(for: FleetkeyError(.invalidArgument, "since must be a number"))
        #expect(refused.status == .badRequest && refused.message == "since must be a number")
        let storage = mapping.problem(
            for: FleetkeyError(.storage, "cannot open the registry at /var/lib/fleetkey/registry.sqlite"))
        #expect(storage.status == .serviceUnavailable)
        #expect(!storage.message.contains("/var/lib"))
        let other = mapping.problem(for: Leaky())
        #expect(other.status == .internalServerError && other.code == "internal" && other.message == "internal error")
        let notFound = mapping.problem(for: HTTPError(.notFound))
        #expect(notFound.status == .notFound && notFound.code == "not-found")
    }

    @Test("plain text for status routes, {code, message, field} JSON for API routes")
    func bodies() throws {
        let problem = HTTPProblem(
            .badRequest, code: "invalid-argument", message: "since is not a number", field: "since")
        let text = problem.response(.plainText)
        #expect(text.headers[.contentType] == "text/plain; charset=utf-8")
        let json = problem.response(.json)
        #expect(json.headers[.contentType] == "application/json")
        let noField = HTTPProblem(.notFound, message: "no CRL named x.crl").response(.json)
        #expect(json.status == .badRequest && noField.status == .notFound)
    }

    @Test("routes answer through the mapping: an unknown route, an unknown CRL, a thrown error, in both formats")
    func throughRoutes() async throws {
        let router = Router()
        router.add(middleware: ErrorMappingMiddleware(.plainText))
        router.get("/status/fail") { _, _ -> String in throw Leaky() }
        router.get("/status/refuse") { _, _ -> String in throw FleetkeyError(.notFound, "no vendor 'Nobody'") }
        let api = router.group("/v1").add(middleware: ErrorMappingMiddleware(.json))
        api.get("/refuse") { _, _ -> String in
            throw HTTPProblem(.badRequest, code: "invalid-argument", message: "limit must be 1 to 100", field: "limit")
        }
        api.get("/fail") { _, _ -> String in throw Leaky() }
        let app = Application(router: router, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.router) { client in
            let unknown = try await client.execute(uri: "/nowhere", method: .get)
            #expect(unknown.status == .notFound && String(buffer: unknown.body) == "Not Found\n")
            let failed = try await client.execute(uri: "/status/fail", method: .get)
            #expect(failed.status == .internalServerError && String(buffer: failed.body) == "internal error\n")
            let refused = try await client.execute(uri: "/status/refuse", method: .get)
            #expect(refused.status == .notFound && String(buffer: refused.body) == "no vendor 'Nobody'\n")

            let apiRefused = try await client.execute(uri: "/v1/refuse", method: .get)
            #expect(apiRefused.status == .badRequest)
            let body = try JSONDecoder().decode(HTTPProblem.Body.self, from: Data(String(buffer: apiRefused.body).utf8))
            #expect(body == .init(code: "invalid-argument", message: "limit must be 1 to 100", field: "limit"))
            let apiFailed = try await client.execute(uri: "/v1/fail", method: .get)
            #expect(String(buffer: apiFailed.body) == #"{"code":"internal","field":null,"message":"internal error"}"#)
        }

        // The status routes themselves.
        let fixture = try await ServerFixture(devices: 0)
        try await fixture.application().test(.router) { client in
            let crl = try await client.execute(uri: "/crl/vendor-nobody.crl", method: .get)
            #expect(crl.status == .notFound)
            #expect(crl.headers[.contentType] == "text/plain; charset=utf-8")
            #expect(String(buffer: crl.body) == "no CRL named vendor-nobody.crl\n")
            let ca = try await client.execute(uri: "/ca/vendor-nobody.cer", method: .get)
            #expect(ca.status == .notFound && String(buffer: ca.body) == "no CA certificate named vendor-nobody.cer\n")
        }
    }
}
