import Foundation
import Testing

/// Each bad input gets a message that names the problem, a non-zero exit, and nothing is recorded.
@Suite("Bad input is refused clearly and records nothing")
struct BadInputTests {
    func expectRefused(
        _ eco: CLIEcosystem, _ arguments: [String], environment: [String: String] = [:], says fragment: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let before = try await eco.counts()
        let result = try eco.fleetkey(arguments, environment: environment)
        #expect(result.status != 0, "must fail: \(result.output)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(fragment), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(
            result.stdout.isEmpty, "no certificate may be printed: \(result.stdout)", sourceLocation: sourceLocation)
        #expect(try await eco.counts() == before, "the registry changed", sourceLocation: sourceLocation)
        #expect(!result.output.contains(CLIEcosystem.passphrase), sourceLocation: sourceLocation)
    }

    @Test("a request that is neither PEM nor DER")
    func notARequest() async throws {
        let eco = try CLIEcosystem()
        try "this is not a certificate request".write(toFile: eco.file("junk.csr"), atomically: true, encoding: .utf8)
        try await expectRefused(
            eco, ["issue", "--vendor", "Acme", "--csr", eco.file("junk.csr")], says: "neither a PEM nor a DER PKCS#10")
    }

    @Test("a request whose signature does not verify")
    func badSignature() async throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "tampered", subject: "/O=Acme/serialNumber=SN-1", der: true)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: csr))
        bytes[bytes.count - 3] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: csr))
        try await expectRefused(eco, ["issue", "--vendor", "Acme", "--csr", csr], says: "proved possession")
    }

    @Test("an RSA-1024 key")
    func rsa1024() async throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(
            name: "weak", subject: "/O=Acme/serialNumber=SN-2", keySpec: ["-newkey", "rsa:1024"])
        try await expectRefused(eco, ["issue", "--vendor", "Acme", "--csr", csr], says: "1024 bits is too small")
    }

    @Test("a subject outside the vendor's namespace")
    func outsideNamespace() async throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "foreign", subject: "/O=Globex/serialNumber=SN-3")
        try await expectRefused(eco, ["issue", "--vendor", "Acme", "--csr", csr], says: "outside the namespace")
    }

    @Test("an unknown vendor")
    func unknownVendor() async throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "orphan", subject: "/O=Initech/serialNumber=SN-4")
        try await expectRefused(eco, ["issue", "--vendor", "Initech", "--csr", csr], says: "unknown vendor 'Initech'")
    }

    @Test("a wrong passphrase")
    func wrongPassphrase() async throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "dev", subject: "/O=Acme/serialNumber=SN-5")
        try await expectRefused(
            eco, ["issue", "--vendor", "Acme", "--csr", csr],
            environment: ["FLEETKEY_PASSPHRASE": "not the passphrase"],
            says: "wrong passphrase")
        try await expectRefused(
            eco, ["vendor", "add", "Initech"], environment: ["FLEETKEY_PASSPHRASE": "not the passphrase"],
            says: "wrong passphrase")
    }

    @Test("init on a directory that already holds an ecosystem")
    func initTwice() async throws {
        let eco = try CLIEcosystem()
        let rootBefore = try String(contentsOfFile: eco.rootPEM, encoding: .utf8)
        try await expectRefused(
            eco, ["init", "--name", "Again", "--kdf-log2n", "14"], says: "already holds an ecosystem")
        #expect(try String(contentsOfFile: eco.rootPEM, encoding: .utf8) == rootBefore)
    }

    @Test("no passphrase at all, without a terminal, is a clear error")
    func noPassphrase() async throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "dev6", subject: "/O=Acme/serialNumber=SN-6")
        let before = try await eco.counts()
        let result = try Tools.run(Tools.fleetkey, ["issue", "--dir", eco.dir, "--vendor", "Acme", "--csr", csr])
        #expect(result.status != 0)
        #expect(result.stderr.contains("set FLEETKEY_PASSPHRASE"))
        #expect(try await eco.counts() == before)
    }
}
