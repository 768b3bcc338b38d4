import Foundation
import Synchronization

/// Loopback ports for the servers tests start.
///
/// A port is drawn below the kernel's ephemeral range (`ip_local_port_range`), so the outgoing connections of curl
/// and of the PostgreSQL pools cannot be holding it, and it is never handed out twice in one test process. It is
/// checked free by binding it, with `SO_REUSEADDR` as the server binds it, so a port in TIME_WAIT counts as free.
enum LoopbackPort {
    private static let handedOut = Mutex<Set<Int>>([])

    /// A free port no other test in this process has been given.
    static func reserve() -> Int {
        let upper = ephemeralLowerBound() - 1
        while true {
            let port = Int.random(in: 20_000...max(20_001, upper))
            let fresh = handedOut.withLock { ports in ports.insert(port).inserted }
            if fresh, isFree(port) { return port }
        }
    }

    /// The first port the kernel may give an outgoing connection; 32768 where it cannot be read.
    private static func ephemeralLowerBound() -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32_768
    }

    private static func isFree(_ port: Int) -> Bool {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var reuse: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
