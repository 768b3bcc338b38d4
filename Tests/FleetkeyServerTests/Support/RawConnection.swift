import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to the server under test, byte by byte, for what an HTTP client library hides: requests
/// sent slowly or never finished, connections held open, the server closing one.
///
/// The socket calls block, so every call runs on a thread of its own, never on Swift concurrency's few threads
/// (the server under test answers on those).
final class RawConnection: @unchecked Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Connects to 127.0.0.1:`port`.
    static func open(port: Int) async throws -> RawConnection {
        try await onThread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Failure("socket: errno \(errno)") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard status == 0 else {
                Glibc.close(fd)
                throw Failure("connect to port \(port): errno \(errno)")
            }
            return RawConnection(descriptor: fd)
        }
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) async throws {
        let fd = descriptor
        try await Self.onThread {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes {
                    Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                guard sent > 0 else { throw Failure("send: errno \(errno)") }
                offset += sent
            }
        }
    }

    /// What the server sends within `seconds`, until it has sent a complete HTTP response head, or closed.
    func readResponseHead(within seconds: Double) async throws -> String? {
        let fd = descriptor
        return try await Self.onThread {
            var received: [UInt8] = []
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                switch try Self.receive(fd, waitingAtMost: deadline.timeIntervalSinceNow) {
                case .bytes(let bytes):
                    received += bytes
                    if String(decoding: received, as: UTF8.self).contains("\r\n\r\n") {
                        return String(decoding: received, as: UTF8.self)
                    }
                case .closed: return received.isEmpty ? nil : String(decoding: received, as: UTF8.self)
                case .nothing: continue
                }
            }
            return received.isEmpty ? nil : String(decoding: received, as: UTF8.self)
        }
    }

    /// Whether the server closes the connection within `seconds` (reading and discarding what it sends first).
    func closedByServer(within seconds: Double) async throws -> Bool {
        let fd = descriptor
        return try await Self.onThread {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if case .closed = try Self.receive(fd, waitingAtMost: deadline.timeIntervalSinceNow) { return true }
            }
            return false
        }
    }

    func close() {
        Glibc.close(descriptor)
    }

    deinit { Glibc.close(descriptor) }

    private enum Received {
        case bytes([UInt8])
        case closed
        case nothing
    }

    private static func receive(_ fd: Int32, waitingAtMost seconds: TimeInterval) throws -> Received {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(max(0, min(seconds, 1)) * 1000))
        guard ready > 0 else { return .nothing }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 { return .bytes(Array(buffer[0..<count])) }
        if count == 0 || errno == ECONNRESET { return .closed }
        throw Failure("recv: errno \(errno)")
    }

    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
