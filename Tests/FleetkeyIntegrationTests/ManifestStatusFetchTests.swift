import Foundation
import Testing

/// An owner importing a manifest without `--crl` (issue 12, item 4): the revocation status of the signer, the vendor
/// CA and every device is fetched from the CRL distribution points in the certificates themselves, and verified.
@Suite("Manifest imports fetch and check revocation status")
struct ManifestStatusFetchTests {
    @Test("status fetched from fleetkey serve and checked; a revoked device refused; server down: refused, URL named")
    func fetchedFromServe() throws {
        let port = LoopbackPort.reserve()
        let base = "http://127.0.0.1:\(port)"
        let eco = try CLIEcosystem(vendors: ["Acme"], baseURL: base)
        expectSuccess(try eco.fleetkey(["factory", "provision", "--vendor", "Acme", "--lot", "S1", "--count", "3"]))
        let manifest = eco.file("S1.manifest")
        expectSuccess(try eco.fleetkey(["manifest", "export", "--lot", "S1", "--out", manifest]))
        // The root's CRL comes from a key ceremony; the server serves the last one published.
        expectSuccess(try eco.fleetkey(["crl", "publish", "--issuer", "root", "--out", eco.file("ceremony")]))
        let owner = eco.file("owner")
        expectSuccess(
            try eco.fleetkey(["owner", "init", "--dir", owner, "--name", "Globex-Ops", "--trust-anchor", eco.rootPEM]))
        let anotherOwner = eco.file("owner-2")
        expectSuccess(
            try eco.fleetkey([
                "owner", "init", "--dir", anotherOwner, "--name", "Initech", "--trust-anchor", eco.rootPEM,
            ]))

        let server = try RunningServer(eco, port: port)
        let imported = try eco.fleetkey(["manifest", "import", manifest, "--dir", owner, "--json"])
        expectSuccess(imported)
        #expect(imported.stdout.contains("\"outcome\" : \"imported\""), "\(imported.output)")

        // A device of the lot is revoked: once the server has republished its CRL, a new import refuses the manifest
        // and names that device.
        let revoked = try eco.fleetkey(["revoke", "--device", "Acme/S1-000002", "--reason", "keyCompromise", "--json"])
        expectSuccess(revoked)
        let serial = try #require(
            revoked.stdout.split(separator: "\"").first { $0.hasPrefix("vendor-acme/") }?.split(separator: "/").last)
        let deadline = Date().addingTimeInterval(20)
        var listed = false
        while !listed, Date() < deadline {
            usleep(300_000)
            let crl = try Tools.run(
                "sh", ["-c", "curl -sf \(base)/crl/vendor-acme.crl | openssl crl -inform DER -noout -text"])
            listed = crl.stdout.uppercased().contains(String(serial))
        }
        #expect(listed, "the served CRL never listed the revoked device")
        let refused = try eco.fleetkey(["manifest", "import", manifest, "--dir", anotherOwner])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("[revoked]") && refused.stderr.contains("S1-000002"), "\(refused.stderr)")
        #expect(refused.stderr.components(separatedBy: "[revoked]").count == 2, "only that device is revoked")

        // The server is gone: nothing can be fetched, so the import is refused, naming the URL it tried.
        server.stop()
        let unreachable = try eco.fleetkey(["manifest", "import", manifest, "--dir", anotherOwner])
        #expect(unreachable.status == 1)
        #expect(
            unreachable.stderr.contains("\(base)/crl/") && unreachable.stderr.contains("--crl"), "\(unreachable.stderr)"
        )
        // --offline never fetches: the same refusal, saying to give the CRLs.
        let offline = try eco.fleetkey(["manifest", "import", manifest, "--dir", anotherOwner, "--offline"])
        #expect(offline.status == 1 && offline.stderr.contains("--crl") && !offline.stderr.contains("\(base)/crl/"))
    }
}
