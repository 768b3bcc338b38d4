/// The source of unpredictable bytes for serial numbers and salts.
///
/// Injected so tests can be deterministic; production uses ``SystemRandomSource``, which reads the
/// operating system's CSPRNG (`getrandom(2)` on Linux) through `SystemRandomNumberGenerator`.
public protocol RandomSource: Sendable {
    func bytes(count: Int) -> [UInt8]
}

/// The operating system's cryptographically secure random number generator.
public struct SystemRandomSource: RandomSource {
    public init() {}

    public func bytes(count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count {
            var word = generator.next()
            withUnsafeBytes(of: &word) { raw in
                out.append(contentsOf: raw.prefix(count - out.count))
            }
        }
        return out
    }
}
