import FleetkeyCore
import Foundation
import Testing

@Suite("Algorithm policy")
struct AlgorithmPolicyTests {
    let policy = AlgorithmPolicy.default
    let today = PolicyDate(year: 2026, month: 11, day: 21).date
    let families: [KeyFamily] = [.ecdsaP256, .ecdsaP384, .ed25519, .rsa]

    @Test("today's defaults allow P-256, P-384, Ed25519 and RSA 2048+")
    func allowed() throws {
        for spec in [KeySpec.p256, .p384, .ed25519, .rsa(2048), .rsa(3072), .rsa(4096)] {
            try policy.check(spec, at: today, profile: "device-identity", profileFamilies: families)
        }
    }

    @Test("RSA-1024 is refused, naming the minimum and the policy field")
    func rsa1024() {
        do {
            try policy.check(.rsa(1024), at: today, profile: "device-identity", profileFamilies: families)
            Issue.record("RSA-1024 must be refused")
        } catch {
            #expect(error.code == .algorithmNotAllowed)
            #expect(error.reason.contains("1024 bits is too small"))
            #expect(error.reason.contains("at least 2048 bits"))
            #expect(error.reason.contains("minimumBits"))
        }
    }

    @Test("after its sunset an algorithm is refused; a stronger rule of the family still applies")
    func sunset() throws {
        let after2031 = PolicyDate(year: 2031, month: 6, day: 1).date
        #expect(throws: FleetkeyError(.algorithmNotAllowed, "")) {
            try policy.check(.rsa(2048), at: after2031, profile: "p", profileFamilies: families)
        }
        try policy.check(.rsa(3072), at: after2031, profile: "p", profileFamilies: families)
    }

    @Test("a profile that does not list a family refuses it")
    func profileFamilies() {
        #expect(throws: FleetkeyError(.algorithmNotAllowed, "")) {
            try policy.check(.ed25519, at: today, profile: "p", profileFamilies: [.ecdsaP256])
        }
    }

    @Test("the policy file round-trips through JSON and names a broken field")
    func policyFile() throws {
        let original = try EcosystemPolicy(
            ecosystem: "E", baseURL: "http://example.test:8080/", hardwareModuleType: "2.25.1")
        #expect(original.baseURL == "http://example.test:8080")
        #expect(original.urls.crl(issuer: "vendor-acme") == "http://example.test:8080/crl/vendor-acme.crl")
        let decoded = try EcosystemPolicy.decode(try original.encoded())
        #expect(decoded == original)

        var text = String(decoding: try original.encoded(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"2041-01-01\"", with: "\"next year\"")
        do {
            _ = try EcosystemPolicy.decode(Data(text.utf8))
            Issue.record("a bad date must not decode")
        } catch let error as FleetkeyError {
            #expect(error.code == .configuration)
            #expect(error.reason.contains("YYYY-MM-DD"))
        }
        #expect(throws: FleetkeyError(.invalidArgument, "")) {
            try EcosystemPolicy(ecosystem: "E", baseURL: "ftp://nowhere", hardwareModuleType: "2.25.1")
        }
    }
}
