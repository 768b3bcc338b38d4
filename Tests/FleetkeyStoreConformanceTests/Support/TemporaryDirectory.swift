import Foundation

/// A directory under the system temp dir, removed when the test is done with it.
final class TemporaryDirectory {
    let url: URL

    init(_ prefix: String = "fleetkey-conformance") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}
