import FleetkeyCore
import FleetkeyTesting
import Foundation
import SwiftASN1
import X509

/// CRL generation (build, sign, write DER) for N revoked entries, beside `openssl ca -gencrl` over the same
/// entries with a key of the same algorithm, in the same run.
///
/// Fleetkey's figure starts from the entries in memory (as read from the registry) and ends with DER bytes;
/// openssl's starts from its index file and ends with its CRL file: each tool's own store to its own output.
enum CRLWorkload {
    struct Result {
        var fleetkeySeconds: Double
        var opensslSeconds: Double?
        var peakMiB: Double
        var bytes: Int
    }

    static func run(entries count: Int, scratch: URL, withOpenSSL: Bool) async throws -> Result {
        let directory = scratch.appendingPathComponent("crl-\(count)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let custody = InMemoryKeyCustody()
        let world = try await ThrowawayEcosystem.make(vendors: ["Bench"], custody: custody, now: Date())
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Bench"))
        let random = SystemRandomSource()
        let now = Date()
        var entries: [RevokedCertificate] = []
        entries.reserveCapacity(count)
        for index in 0..<count {
            var serial = random.bytes(count: 16)
            serial[0] = (serial[0] & 0x7F) | 0x40
            entries.append(
                RevokedCertificate(
                    serial: serial, revocationDate: now.addingTimeInterval(-Double(index % 86_400)),
                    reason: index % 3 == 0 ? .keyCompromise : .cessationOfOperation, invalidityDate: nil))
        }
        entries.sort { $0.serial.lexicographicallyPrecedes($1.serial) }

        let publisher = CRLPublisher(
            store: world.registry as! any RevocationStore, policy: world.ecosystem.policy, clock: world.clock)
        PeakMemory.reset()
        let (der, seconds) = try Stopwatch.seconds { () throws -> [UInt8] in
            try publisher.makeCRL(authority, scope: .complete, entries: entries, number: 1, now: now).derBytes()
        }
        let peak = PeakMemory.peakMiB()
        let crlFile = directory.appendingPathComponent("fleetkey.crl")
        try Data(der).write(to: crlFile)

        var opensslSeconds: Double?
        if withOpenSSL {
            opensslSeconds = try await openssl(
                entries: entries, authority: authority, custody: custody, directory: directory)
        }
        return Result(fleetkeySeconds: seconds, opensslSeconds: opensslSeconds, peakMiB: peak, bytes: der.count)
    }

    /// Times `openssl ca -gencrl` over an index file holding the same revocations.
    static func openssl(
        entries: [RevokedCertificate], authority: CertificateAuthority, custody: InMemoryKeyCustody, directory: URL
    ) async throws -> Double {
        let key = try await custody.signingKey("memory:vendor-bench").serializeAsPEM().pemString
        try key.write(to: directory.appendingPathComponent("ca.key"), atomically: true, encoding: .utf8)
        try authority.certificate.pemString().write(
            to: directory.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
        var index = ""
        index.reserveCapacity(entries.count * 80)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyMMddHHmmss'Z'"
        for entry in entries {
            let reason = entry.reason == .keyCompromise ? "keyCompromise" : "cessationOfOperation"
            index +=
                "R\t491231235959Z\t\(formatter.string(from: entry.revocationDate)),\(reason)\t\(Hex.upper(entry.serial))\tunknown\t/CN=x\n"
        }
        try index.write(to: directory.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
        try "1000\n".write(to: directory.appendingPathComponent("crlnumber"), atomically: true, encoding: .utf8)
        let config = """
            [ca]
            default_ca = d
            [d]
            database = \(directory.path)/index.txt
            crlnumber = \(directory.path)/crlnumber
            certificate = \(directory.path)/ca.pem
            private_key = \(directory.path)/ca.key
            default_md = sha256
            default_crl_hours = 24
            crl_extensions = e
            [e]
            authorityKeyIdentifier = keyid:always
            """
        try config.write(to: directory.appendingPathComponent("ca.cnf"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "ca", "-gencrl", "-config", "\(directory.path)/ca.cnf", "-out", "\(directory.path)/openssl.crl",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let (_, seconds) = try Stopwatch.seconds { () throws -> Void in
            try process.run()
            process.waitUntilExit()
        }
        guard process.terminationStatus == 0 else {
            throw FleetkeyError(.storage, "openssl ca -gencrl failed with status \(process.terminationStatus)")
        }
        return seconds
    }
}
