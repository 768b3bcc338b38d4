import FleetkeyServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The connection bounds of ``ServerLimits`` on a live server, over raw sockets: what a slow or greedy stranger
/// gets. The bounds asserted are generous (a loaded machine is slow); what is checked is that the server acts, not
/// how fast.
@Suite("Connection limits of the live server")
struct ConnectionLimitTests {
    static let health = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    @Test("a request head trickled in byte by byte loses its connection at the header timeout")
    func headerTimeout() async throws {
        let fixture = try await ServerFixture(devices: 0)
        let limits = ServerLimits(idleTimeoutSeconds: 3_600, headerTimeoutSeconds: 1)
        try await fixture.application(limits: limits).test(.live) { client in
            let connection = try await RawConnection.open(port: try #require(client.port))
            try await connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            var closed = false
            for index in 0..<100 where !closed {
                // A header line every 200 ms: never idle, never finished.
                try? await connection.send("X-Trickle-\(index): a\r\n")
                closed = try await connection.closedByServer(within: 0.2)
            }
            #expect(closed, "the server kept a connection whose request head never ended")
        }
    }

    @Test("a connection left idle after its response is closed at the idle timeout")
    func idleTimeout() async throws {
        let fixture = try await ServerFixture(devices: 0)
        // Long enough that a starved test machine does not close the connection before the request is even sent.
        let limits = ServerLimits(idleTimeoutSeconds: 5, headerTimeoutSeconds: 3_600)
        try await fixture.application(limits: limits).test(.live) { client in
            let connection = try await RawConnection.open(port: try #require(client.port))
            try await connection.send(Self.health)
            let head = try await connection.readResponseHead(within: 30)
            #expect(head?.hasPrefix("HTTP/1.1 200") == true, "\(head ?? "no response")")
            #expect(try await connection.closedByServer(within: 30), "the idle connection was never closed")
        }
    }

    @Test("beyond the connection cap a new connection waits until one closes")
    func connectionCap() async throws {
        let fixture = try await ServerFixture(devices: 0)
        let limits = ServerLimits(idleTimeoutSeconds: 3_600, headerTimeoutSeconds: 3_600, maximumConnections: 2)
        try await fixture.live(limits: limits) { port in
            var held: [RawConnection] = []
            for _ in 0..<2 {
                let connection = try await RawConnection.open(port: port)
                try await connection.send(Self.health)
                #expect(try await connection.readResponseHead(within: 30)?.hasPrefix("HTTP/1.1 200") == true)
                held.append(connection)
            }
            let waiting = try await RawConnection.open(port: port)
            try await waiting.send(Self.health)
            #expect(try await waiting.readResponseHead(within: 2) == nil, "a connection beyond the cap was served")
            held[0].close()
            let head = try await waiting.readResponseHead(within: 30)
            #expect(head?.hasPrefix("HTTP/1.1 200") == true, "\(head ?? "no response after a connection closed")")
        }
    }

    @Test("a body larger than any route takes closes the connection instead of being drained")
    func endlessBody() async throws {
        let fixture = try await ServerFixture(devices: 0)
        try await fixture.application().test(.live) { client in
            let connection = try await RawConnection.open(port: try #require(client.port))
            try await connection.send(
                "POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
                    + "Content-Length: 100000000\r\n\r\n")
            let head = try await connection.readResponseHead(within: 30)
            #expect(head?.hasPrefix("HTTP/1.1 413") == true, "\(head ?? "no response")")
            var closed = false
            for _ in 0..<400 where !closed {
                try? await connection.send([UInt8](repeating: 0x41, count: 4096))
                closed = try await connection.closedByServer(within: 0.05)
            }
            #expect(closed, "the server kept reading a 100 MB body it had refused")
        }
    }
}
