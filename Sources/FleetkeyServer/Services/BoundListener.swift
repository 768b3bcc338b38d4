import FleetkeyCore
import Foundation
import NIOCore
import ServiceLifecycle

/// One listening application, whose failure to bind is reported as the operator's to mend, naming the option and
/// the address: a port already in use (`EADDRINUSE`) or one the process may not bind (`EACCES`), rather than the
/// socket call NIO made.
struct BoundListener<Inner: Service>: Service {
    /// The command-line option that chose the address, such as `--listen`.
    let option: String
    let address: StatusServer.Listener
    let inner: Inner

    func run() async throws {
        do {
            try await inner.run()
        } catch let error as IOError {
            let what =
                switch error.errnoCode {
                case EADDRINUSE: "the address is already in use; stop what holds it or choose another \(option)"
                case EACCES: "this process may not bind it; choose a port above 1023 or grant the capability"
                default: "\(error)"
                }
            throw FleetkeyError(.configuration, "\(option) \(address.host):\(address.port): cannot listen: \(what)")
        }
    }
}
