import FleetkeyCore
import Foundation

/// `fleetkey issue --csr-dir DIR --out-dir OUT`: many device identities in one process, with one passphrase
/// prompt and one registry connection, for factories and for load (per-invocation scrypt and process start would
/// dominate thousands of single `issue` calls).
///
/// Each request goes through exactly the single-request path (``Ecosystem/issueDeviceIdentity(_:by:)``): checked,
/// built, linted, signed, recorded in the registry, and only then written to OUT. So if the batch stops half-way
/// (a refused request, a registry that went away), every certificate file in OUT is recorded in the registry, and
/// no certificate that is missing from the registry was written.
extension IssueCommand {
    /// One issued certificate, as `--json` reports it.
    struct BatchIssued: Encodable {
        var request: String
        var certificate: String
        var serial: String
        var device: String
    }

    /// One refused request (with `--keep-going`).
    struct BatchRefused: Encodable {
        var request: String
        var code: String
        var reason: String
    }

    struct BatchResult: Encodable {
        var issued: [BatchIssued]
        var refused: [BatchRefused]
    }

    static let requestExtensions: Set<String> = ["csr", "pem", "der", "p10"]

    func issueBatch(from requestDirectory: String) async throws {
        guard csr == nil, out == nil, hwSerial == nil, hwType == nil else {
            throw FleetkeyError(
                .invalidArgument,
                "--csr-dir takes neither --csr nor --out (use --out-dir) nor --hw-serial/--hw-type (each request "
                    + "must carry its own hardwareModuleName)")
        }
        guard let outDir else {
            throw FleetkeyError(
                .invalidArgument, "--csr-dir needs --out-dir: the directory to write the certificates to")
        }
        if let lot { _ = try LotName(lot, field: "--lot") }
        let requests = try Self.requestFiles(in: requestDirectory)
        let outURL = URL(fileURLWithPath: outDir, isDirectory: true)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)

        let directory = location.directory
        let ecosystem = try directory.openEcosystem(passphrase: try directory.passphrase())
        let authority = try await ecosystem.vendorAuthority(try VendorName(vendor))
        var result = BatchResult(issued: [], refused: [])
        let started = ContinuousClock.now
        let progressEvery = max(1, min(500, requests.count / 10))

        for (index, request) in requests.enumerated() {
            let target = outURL.appendingPathComponent(request.deletingPathExtension().lastPathComponent + ".pem")
            do {
                guard let bytes = FileManager.default.contents(atPath: request.path) else {
                    throw FleetkeyError(.invalidArgument, "cannot read the request file")
                }
                let issued = try await ecosystem.issueDeviceIdentity(
                    .init(csr: Array(bytes), profile: profile, lot: lot), by: authority)
                // Recorded first (above), written second: a file in OUT always has its row in the registry.
                do {
                    try Data((try issued.certificate.pemString() + "\n").utf8).write(to: target, options: .atomic)
                } catch {
                    throw FleetkeyError(
                        .storage,
                        "certificate \(issued.record.serial) was recorded but cannot be written to \(target.path): "
                            + "\(error.localizedDescription)")
                }
                result.issued.append(
                    BatchIssued(
                        request: request.path, certificate: target.path, serial: issued.record.serial,
                        device: issued.device.id.description))
            } catch {
                // Whatever else a request makes a library throw (an ASN1Error from its DER, say) is refused like any
                // bad request: reported against that request, and with --keep-going the batch goes on.
                let error = ErrorReport.fleetkeyError(error, input: "the request")
                let stopped =
                    "\(result.issued.count) of \(requests.count) issued before it, each recorded and written to "
                    + outURL.path
                guard keepGoing, error.code != .storage else {
                    throw FleetkeyError(error.code, "request '\(request.path)': \(error.reason) (\(stopped))")
                }
                Output.progress("error [\(error.code)]: request '\(request.path)': \(error.reason)")
                result.refused.append(
                    BatchRefused(request: request.path, code: error.code.description, reason: error.reason))
            }
            let done = index + 1
            if done % progressEvery == 0 || done == requests.count {
                let elapsed = started.duration(to: .now).components
                let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
                Output.progress(
                    "issue: \(done)/\(requests.count) requests, \(result.issued.count) issued, "
                        + "\(result.refused.count) refused, "
                        + String(format: "%.0f/s", Double(done) / max(seconds, 0.001))
                )
            }
        }

        if json {
            try Output.json(result)
        } else {
            Output.line("Issued \(result.issued.count) certificate(s) into \(outURL.path)")
            if !result.refused.isEmpty {
                Output.line("Refused \(result.refused.count) request(s); see the errors above")
            }
        }
        if !result.refused.isEmpty {
            throw FleetkeyError(
                .invalidArgument,
                "\(result.refused.count) of \(requests.count) request(s) were refused, \(result.issued.count) issued")
        }
    }

    /// The request files of a directory, in name order; refuses an empty directory and two requests that would
    /// write the same certificate file.
    static func requestFiles(in path: String) throws -> [URL] {
        let directory = URL(fileURLWithPath: path, isDirectory: true)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw FleetkeyError(.invalidArgument, "--csr-dir '\(path)' is not a readable directory")
        }
        let requests = names.sorted()
            .filter { requestExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }
            .map { directory.appendingPathComponent($0) }
        guard !requests.isEmpty else {
            throw FleetkeyError(.invalidArgument, "--csr-dir '\(path)' holds no request (*.csr, *.pem, *.der, *.p10)")
        }
        var seen: [String: String] = [:]
        for request in requests {
            let stem = request.deletingPathExtension().lastPathComponent
            if let other = seen[stem] {
                throw FleetkeyError(
                    .invalidArgument,
                    "requests '\(other)' and '\(request.lastPathComponent)' would both be written to \(stem).pem: "
                        + "rename one"
                )
            }
            seen[stem] = request.lastPathComponent
        }
        return requests
    }
}
