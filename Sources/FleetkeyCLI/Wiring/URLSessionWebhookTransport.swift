import FleetkeyCore
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Posts webhook notices with URLSession (``WebhookTransport``): 10 seconds per attempt, nothing cached, no
/// redirect followed (a notice goes where the configuration says, or fails).
///
/// Failures never name the URL: a webhook URL often carries a token of its own.
struct URLSessionWebhookTransport: WebhookTransport {
    static let timeout: TimeInterval = 10

    private let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    func post(_ url: String, body: [UInt8], headers: [(String, String)]) async throws -> Int {
        guard let target = URL(string: url) else {
            throw FleetkeyError(.configuration, "the webhook URL does not parse")
        }
        var request = URLRequest(url: target, timeoutInterval: Self.timeout)
        request.httpMethod = "POST"
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = Data(body)
        let response: URLResponse
        do {
            (_, response) = try await session.data(for: request)
        } catch let error as URLError {
            throw FleetkeyError(.storage, "no answer from the webhook (URLError \(error.code.rawValue))")
        } catch {
            throw FleetkeyError(.storage, "no answer from the webhook")
        }
        guard let http = response as? HTTPURLResponse else {
            throw FleetkeyError(.storage, "the webhook's answer is not HTTP")
        }
        return http.statusCode
    }
}

/// Refuses every redirect: the answer to the first request is the answer.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
