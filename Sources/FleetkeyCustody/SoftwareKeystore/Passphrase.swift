/// A keystore passphrase. Its description is redacted so it cannot reach a log or an error by accident,
/// and its bytes are overwritten when the last copy goes away.
package final class Passphrase: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    nonisolated(unsafe) private var storage: [UInt8]

    package init(_ text: String) {
        storage = Array(text.utf8)
    }

    package var isEmpty: Bool { storage.isEmpty }

    func withBytes<T>(_ body: ([UInt8]) throws -> T) rethrows -> T {
        try body(storage)
    }

    package var description: String { "<passphrase redacted>" }
    package var debugDescription: String { description }

    deinit {
        for index in storage.indices { storage[index] = 0 }
    }
}
