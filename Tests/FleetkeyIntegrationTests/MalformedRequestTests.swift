import Foundation
import Testing

/// A request whose DER decodes but whose extensionRequest holds a subjectAltName that does not: refused as malformed
/// input naming the field, alone and inside a `--keep-going` batch, which goes on with the next request.
@Suite("Requests with a malformed extensionRequest")
struct MalformedRequestTests {
    /// A P-256 request by `openssl req` whose subjectAltName value is a SEQUENCE holding a directoryName that is not a
    /// Name (RFC 5280 §4.2.1.6): its signature verifies, its SAN cannot be decoded.
    static func badSANRequest(_ eco: CLIEcosystem, name: String, serial: String) throws -> String {
        let out = eco.file("\(name).csr")
        expectSuccess(
            try Tools.run(
                "openssl",
                [
                    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    eco.file("\(name).key"), "-subj", "/O=Acme/serialNumber=\(serial)", "-addext",
                    "2.5.29.17=DER:3004A4020500", "-out", out,
                ]))
        return out
    }

    @Test("issue --csr: error [malformed-input] naming the extensionRequest's subjectAltName; nothing recorded")
    func single() async throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let csr = try Self.badSANRequest(eco, name: "bad", serial: "SN-BAD-SAN")
        let before = try await eco.counts()
        let result = try eco.fleetkey(["issue", "--vendor", "Acme", "--csr", csr, "--out", eco.file("bad.pem")])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.hasPrefix("error [malformed-input]: "), "\(result.stderr)")
        #expect(result.stderr.contains("extensionRequest subjectAltName"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: eco.file("bad.pem")))
        #expect(try await eco.counts() == before)
    }

    @Test("issue --csr-dir --keep-going: the malformed request is refused and reported, the others are issued")
    func batch() async throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let requests = eco.file("requests")
        try FileManager.default.createDirectory(atPath: requests, withIntermediateDirectories: true)
        for (name, serial) in [("a-good", "SN-GOOD-1"), ("c-good", "SN-GOOD-2")] {
            let csr = try eco.opensslRequest(name: name, subject: "/O=Acme/serialNumber=\(serial)")
            try FileManager.default.moveItem(atPath: csr, toPath: "\(requests)/\(name).csr")
        }
        let bad = try Self.badSANRequest(eco, name: "b-bad", serial: "SN-BAD-SAN")
        try FileManager.default.moveItem(atPath: bad, toPath: "\(requests)/b-bad.csr")
        let out = eco.file("issued")

        let result = try eco.fleetkey([
            "issue", "--vendor", "Acme", "--csr-dir", requests, "--out-dir", out, "--keep-going", "--json",
        ])
        #expect(result.status == 1, "\(result.output)")
        struct Batch: Decodable {
            struct Issued: Decodable { var request: String }
            struct Refused: Decodable {
                var request: String
                var code: String
                var reason: String
            }
            var issued: [Issued]
            var refused: [Refused]
        }
        let batch = try JSONDecoder().decode(Batch.self, from: Data(result.stdout.utf8))
        #expect(
            batch.issued.map { URL(fileURLWithPath: $0.request).lastPathComponent } == ["a-good.csr", "c-good.csr"])
        #expect(batch.refused.count == 1)
        #expect(batch.refused.first?.request.hasSuffix("b-bad.csr") == true)
        #expect(batch.refused.first?.code == "malformed-input")
        #expect(batch.refused.first?.reason.contains("extensionRequest subjectAltName") == true)
        #expect(result.stderr.contains("error [malformed-input]: request '\(requests)/b-bad.csr'"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["a-good.pem", "c-good.pem"])

        // Without --keep-going the batch stops at it, with the same formatted error.
        let alone = eco.file("alone")
        try FileManager.default.createDirectory(atPath: alone, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(requests)/b-bad.csr", toPath: "\(alone)/b-bad.csr")
        let stopped = try eco.fleetkey([
            "issue", "--vendor", "Acme", "--csr-dir", alone, "--out-dir", eco.file("stopped"),
        ])
        #expect(stopped.status == 1)
        #expect(stopped.stderr.contains("error [malformed-input]: request '\(alone)/b-bad.csr'"), "\(stopped.stderr)")
    }
}
