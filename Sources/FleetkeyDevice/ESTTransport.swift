import FleetkeyCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import X509

/// One HTTPS request to an EST server over its own TLS connection (HTTP/1.1, `Connection: close`): a device talks
/// to its server rarely, and every enrollment authenticates a new TLS session anyway.
///
/// The server must present a certificate that chains to `serverTrust` and names the URL's host (RFC 7030 §3.6,
/// RFC 6125); nothing is trusted on first use.
struct ESTTransport: Sendable {
    let host: String
    let port: Int
    let serverTrust: [Certificate]
    let group: any EventLoopGroup
    let timeout: TimeAmount

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// The certificate and key (in an element) the TLS session authenticates with.
    struct ClientIdentity: Sendable {
        var certificate: Certificate
        var key: ElementTLSKey
    }

    func request(method: HTTPMethod, path: String, body: [UInt8]?, contentType: String?, identity: ClientIdentity?)
        async throws -> Answer
    {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .certificates(
            try serverTrust.map { try NIOSSLCertificate(bytes: try $0.derBytes(), format: .der) })
        configuration.certificateVerification = .fullVerification
        if let identity {
            configuration.certificateChain = [
                .certificate(try NIOSSLCertificate(bytes: try identity.certificate.derBytes(), format: .der))
            ]
            configuration.privateKey = .privateKey(NIOSSLPrivateKey(customPrivateKey: identity.key))
        }
        let context = try NIOSSLContext(configuration: configuration)
        let hostname = Self.isIPAddress(host) ? nil : host
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: hostname))
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ESTClientError.transport("cannot connect to \(host):\(port): \(error)")
        }
        let answer: Answer
        do {
            answer = try await withDeadline(timeout) {
                try await channel.executeThenClose { inbound, outbound in
                    var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
                    head.headers.add(name: "Host", value: "\(host):\(port)")
                    head.headers.add(name: "Connection", value: "close")
                    if let body {
                        head.headers.add(name: "Content-Type", value: contentType ?? "application/octet-stream")
                        head.headers.add(name: "Content-Length", value: "\(body.count)")
                    }
                    try await outbound.write(.head(head))
                    if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                    try await outbound.write(.end(nil))
                    var status = 0
                    var headers = HTTPHeaders()
                    var collected = ByteBuffer()
                    for try await part in inbound {
                        switch part {
                        case .head(let response):
                            status = Int(response.status.code)
                            headers = response.headers
                        case .body(var bytes):
                            guard collected.readableBytes + bytes.readableBytes <= 1 << 20 else {
                                throw ESTClientError.malformedAnswer("the server's answer is larger than 1 MiB")
                            }
                            collected.writeBuffer(&bytes)
                        case .end:
                            return Answer(status: status, headers: headers, body: Array(collected.readableBytesView))
                        }
                    }
                    throw ESTClientError.transport("the server closed the connection before its answer ended")
                }
            }
        } catch let error as ESTClientError {
            throw error
        } catch let error as NIOSSLError {
            throw ESTClientError.transport("TLS with \(host):\(port) failed: \(error)")
        } catch {
            throw ESTClientError.transport("the request to \(host):\(port) failed: \(error)")
        }
        return answer
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// Runs `body`, or fails once `timeout` has passed.
    func withDeadline<T: Sendable>(_ timeout: TimeAmount, _ body: @escaping @Sendable () async throws -> T)
        async throws -> T
    {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                throw ESTClientError.transport("no answer within \(timeout.nanoseconds / 1_000_000_000) s")
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }
}
