import FleetkeyCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The one way every route turns an error into an HTTP answer: a status, a stable code, a message that says what
/// was wrong with the request, and the field it was about, as plain text (the status routes) or as JSON (API
/// routes, `{"code": …, "message": …, "field": …}`).
///
/// - A ``FleetkeyError`` gets the status its code calls for (``status(for:)``); a 4xx carries its reason, which
///   names the input and the rule, while a 5xx says only what kind of failure it was, since its reason may name
///   server paths or hosts.
/// - An ``HTTPProblem`` (what routes throw for HTTP-level refusals: 404, 413, 415, 429) is sent as it is.
/// - Hummingbird's own errors (an unknown route, a body over the cap) keep their status.
/// - Anything else is a 500 that says "internal error" and nothing more; the error itself is logged.
package struct HTTPErrorMapping: Sendable {
    /// How an error is written in the response body.
    package enum BodyFormat: Sendable {
        /// `text/plain`: the message and a newline. For the status routes, read by curl and operators.
        case plainText
        /// `application/json`: `{"code", "message", "field"}`. For API routes (`/v1/`).
        case json
    }

    package init() {}

    /// The HTTP status a Fleetkey error code calls for.
    package static func status(for code: FleetkeyError.Code) -> HTTPResponse.Status {
        switch code {
        case .malformedInput, .invalidArgument: .badRequest
        case .notFound: .notFound
        case .alreadyExists, .conflict, .invalidTransition: .conflict
        case .proofOfPossessionFailed, .algorithmNotAllowed, .subjectRejected, .lintFailed, .attestationRejected,
            .manifestRejected, .statusNotVerified:
            .unprocessableContent
        case .storage, .custodyUnavailable: .serviceUnavailable
        default: .internalServerError
        }
    }

    /// What `error` is, as a client may see it.
    package func problem(for error: any Error) -> HTTPProblem {
        switch error {
        case let problem as HTTPProblem:
            return problem
        case let refusal as EnrollmentRefusal:
            // RFC 7030 §4.2.3: 401 without acceptable authentication, 403 when it is not allowed, 400 for the body.
            // A status that cannot be learned now is 503 with Retry-After (RFC 9110 §15.6.4): the device tries again.
            let status: HTTPResponse.Status =
                switch refusal.answer {
                case .unauthenticated: .unauthorized
                case .forbidden: .forbidden
                case .malformed: .badRequest
                case .unavailable: .serviceUnavailable
                }
            return HTTPProblem(
                status, code: refusal.rule.rawValue, message: refusal.reason,
                headers: refusal.answer == .unavailable ? [.retryAfter: "30"] : [:])
        case let error as FleetkeyError:
            let status = Self.status(for: error.code)
            guard status.code < 500 else {
                return HTTPProblem(
                    status, code: error.code.name,
                    message: status == .serviceUnavailable
                        ? "the service is temporarily unavailable (\(error.code.name)); try again later"
                        : "internal error (\(error.code.name))")
            }
            return HTTPProblem(status, code: error.code.name, message: error.reason)
        case let error as HTTPError:
            return HTTPProblem(
                error.status, code: Self.code(error.status), message: error.body ?? error.status.reasonPhrase,
                headers: error.headers)
        case let error as any HTTPResponseError:
            return HTTPProblem(error.status, code: Self.code(error.status), message: error.status.reasonPhrase)
        default:
            return HTTPProblem(.internalServerError, code: "internal", message: "internal error")
        }
    }

    /// The response for `error` in `format`; server-side failures are logged, with their reason, here.
    package func response(for error: any Error, format: BodyFormat, logger: Logger) -> Response {
        let problem = problem(for: error)
        if problem.status.code >= 500 {
            logger.error(
                "request failed",
                metadata: ["status": "\(problem.status.code)", "error": "\(String(reflecting: error))"])
        }
        return problem.response(format)
    }

    /// A stable code for an HTTP-level refusal: the status's reason phrase in kebab case (`not-found`).
    static func code(_ status: HTTPResponse.Status) -> String {
        status.reasonPhrase.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).joined(separator: "-")
    }
}

/// An HTTP-level refusal a route throws: status, stable code, message, and the request field it is about.
package struct HTTPProblem: Error, Sendable, Hashable {
    package var status: HTTPResponse.Status
    package var code: String
    package var message: String
    package var field: String?
    package var headers: HTTPFields

    package init(
        _ status: HTTPResponse.Status, code: String? = nil, message: String, field: String? = nil,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code ?? HTTPErrorMapping.code(status)
        self.message = message
        self.field = field
        self.headers = headers
    }

    /// The JSON body of an API error.
    package struct Body: Codable, Sendable, Hashable {
        package var code: String
        package var message: String
        package var field: String?

        package init(code: String, message: String, field: String? = nil) {
            self.code = code
            self.message = message
            self.field = field
        }

        /// Writes `field` as null when there is none, so every API error has the same three keys.
        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(message, forKey: .message)
            try container.encode(field, forKey: .field)
        }
    }

    package func response(_ format: HTTPErrorMapping.BodyFormat) -> Response {
        var headers = headers
        let bytes: [UInt8]
        switch format {
        case .plainText:
            headers[.contentType] = "text/plain; charset=utf-8"
            bytes = Array((message + "\n").utf8)
        case .json:
            headers[.contentType] = "application/json"
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            bytes = Array((try? encoder.encode(Body(code: code, message: message, field: field))) ?? Data())
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Catches whatever a route throws and answers it through ``HTTPErrorMapping``, in one body format. Add it last,
/// so that request logging and metrics see the mapped status.
package struct ErrorMappingMiddleware<Context: RequestContext>: RouterMiddleware {
    package let mapping: HTTPErrorMapping
    package let format: HTTPErrorMapping.BodyFormat

    package init(_ format: HTTPErrorMapping.BodyFormat, mapping: HTTPErrorMapping = HTTPErrorMapping()) {
        self.mapping = mapping
        self.format = format
    }

    package func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return mapping.response(for: error, format: format, logger: context.logger)
        }
    }
}
