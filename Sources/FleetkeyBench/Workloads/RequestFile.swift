import Crypto
import FleetkeyCore
import Foundation
import X509

/// Device requests made before the clock starts, kept on disk so they do not count in the issuance's memory.
///
/// Each record is a 4-byte big-endian length and a DER PKCS#10 request. Reading streams through a small buffer.
struct RequestFile {
    let url: URL

    /// Writes `count` requests for vendor `vendor`, serials `prefix-0...`, generated on every core.
    static func generate(at url: URL, vendor: VendorName, prefix: String, count: Int) throws -> RequestFile {
        let chunk = 1000
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw FleetkeyError(.storage, "cannot create \(url.path)")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var start = 0
        while start < count {
            let size = min(chunk, count - start)
            nonisolated(unsafe) let results = UnsafeMutableBufferPointer<[UInt8]>.allocate(capacity: size)
            results.initialize(repeating: [])
            defer { results.deallocate() }
            let base = start
            DispatchQueue.concurrentPerform(iterations: size) { index in
                let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
                let request = try! RequestBuilder.deviceRequest(
                    vendor: vendor, serial: try! DeviceSerial("\(prefix)-\(base + index)"), hardwareModule: nil,
                    key: key)
                results[index] = try! request.derBytes()
            }
            var block = [UInt8]()
            for der in results {
                let length = UInt32(der.count)
                block += [
                    UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF),
                ]
                block += der
            }
            try handle.write(contentsOf: block)
            start += size
        }
        return RequestFile(url: url)
    }

    /// Calls `body` with each request in order, reading 64 KiB at a time.
    func eachRequest(_ body: ([UInt8]) async throws -> Void) async throws {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var buffer = [UInt8]()
        var offset = 0
        while true {
            if buffer.count - offset < 4 || buffer.count - offset < 4 + Self.length(buffer, offset) {
                buffer = Array(buffer[offset...])
                offset = 0
                guard let more = try handle.read(upToCount: 65_536), !more.isEmpty else { break }
                buffer += more
                continue
            }
            let length = Self.length(buffer, offset)
            try await body(Array(buffer[(offset + 4)..<(offset + 4 + length)]))
            offset += 4 + length
        }
    }

    private static func length(_ buffer: [UInt8], _ offset: Int) -> Int {
        guard buffer.count - offset >= 4 else { return Int.max / 2 }
        return Int(buffer[offset]) << 24 | Int(buffer[offset + 1]) << 16 | Int(buffer[offset + 2]) << 8
            | Int(buffer[offset + 3])
    }
}
