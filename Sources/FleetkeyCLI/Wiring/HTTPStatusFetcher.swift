import FleetkeyCore
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Fetches CRLs and OCSP answers over HTTP for the core's ``RevocationChecker``, which verifies what comes back.
///
/// Bounded, since the URLs come from certificates: a few seconds per request, and answers of at most 64 MiB.
struct HTTPStatusFetcher: StatusFetcher {
    static let timeout: TimeInterval = 5
    static let maximumBytes = 64 << 20

    /// A session that caches nothing: a status check asks the server every time, never an earlier answer.
    private let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        return URLSession(configuration: configuration)
    }()

    func get(_ url: String) async throws -> [UInt8] {
        try await fetch(url) { URLRequest(url: $0, timeoutInterval: Self.timeout) }
    }

    func post(_ url: String, body: [UInt8], contentType: String) async throws -> [UInt8] {
        try await fetch(url) { target in
            var request = URLRequest(url: target, timeoutInterval: Self.timeout)
            request.httpMethod = "POST"
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body)
            return request
        }
    }

    private func fetch(_ url: String, _ make: (URL) -> URLRequest) async throws -> [UInt8] {
        guard let target = URL(string: url), ["http", "https"].contains(target.scheme?.lowercased() ?? "") else {
            throw FleetkeyError(.invalidArgument, "'\(url)' is not an http(s) URL")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: make(target))
        } catch {
            throw FleetkeyError(.storage, "cannot reach \(url): \(error.localizedDescription)")
        }
        guard let status = (response as? HTTPURLResponse)?.statusCode, status == 200 else {
            throw FleetkeyError(
                .storage, "\(url) answered HTTP \((response as? HTTPURLResponse)?.statusCode ?? 0), not 200")
        }
        guard data.count <= Self.maximumBytes else {
            throw FleetkeyError(.malformedInput, "\(url) answered \(data.count) bytes, more than a CRL may have")
        }
        return Array(data)
    }
}
