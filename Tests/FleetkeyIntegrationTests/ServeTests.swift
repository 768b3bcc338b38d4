import Crypto
import FleetkeyCore
import FleetkeyCustody
import FleetkeySQLite
import Foundation
import SwiftASN1
import Testing
import X509

/// `fleetkey serve` checked by openssl, certtool and pkilint, as relying parties would use it.
@Suite("fleetkey serve: OCSP and CRLs checked by independent tools", .serialized)
struct ServeTests {
    /// Issues a device certificate through the CLI from an openssl request; returns the certificate file.
    func issue(_ eco: CLIEcosystem, _ name: String, vendor: String = "Acme", lot: String? = nil) throws -> String {
        let csr = try eco.opensslRequest(name: name, subject: "/O=\(vendor)/serialNumber=\(name)")
        let pem = eco.file("\(name).pem")
        expectSuccess(
            try eco.fleetkey(
                ["issue", "--vendor", vendor, "--csr", csr, "--out", pem] + (lot.map { ["--lot", $0] } ?? [])))
        return pem
    }

    func serial(of pem: String) throws -> String {
        try Certificate(pemEncoded: String(contentsOfFile: pem, encoding: .utf8)).serialNumber.hexString
    }

    /// Asks the server about certificates with `openssl ocsp`; returns its report.
    func ocsp(_ eco: CLIEcosystem, _ server: RunningServer, _ arguments: [String], respout: String? = nil) throws
        -> CommandResult
    {
        let chain = eco.file("trust.pem")
        try
            (String(contentsOfFile: eco.rootPEM, encoding: .utf8)
            + String(contentsOfFile: eco.vendorPEM("acme"), encoding: .utf8))
            .write(toFile: chain, atomically: true, encoding: .utf8)
        return try Tools.run(
            "openssl",
            [
                "ocsp", "-issuer", eco.vendorPEM("acme"), "-url", "\(server.baseURL)/ocsp/vendor-acme", "-CAfile",
                chain, "-no_nonce",
            ]
                + arguments + (respout.map { ["-respout", $0] } ?? []))
    }

    /// Polls until `check` holds or 10 seconds pass: "within seconds".
    func eventually(_ what: String, _ check: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try check() { return }
            usleep(200_000)
        }
        Issue.record("not within 10 s: \(what)")
    }

    @Test(
        "openssl ocsp reports good, revoked and unknown; the CRL rejects the revoked device; certtool and pkilint agree"
    )
    func statusEndToEnd() throws {
        let eco = try CLIEcosystem()
        let good = try issue(eco, "GOOD-1")
        let bad = try issue(eco, "BAD-1")
        let server = try RunningServer(eco)
        defer { server.stop() }
        expectSuccess(try eco.fleetkey(["revoke", "--serial", try serial(of: bad), "--reason", "keyCompromise"]))

        try eventually("OCSP reports the revoked certificate") {
            try ocsp(eco, server, ["-cert", bad]).stdout.contains("\(bad): revoked")
        }
        let goodAnswer = try ocsp(eco, server, ["-cert", good], respout: eco.file("good.ocsp"))
        #expect(goodAnswer.stdout.contains("\(good): good"), "\(goodAnswer.output)")
        #expect(goodAnswer.output.contains("Response verify OK"), "\(goodAnswer.output)")
        let badAnswer = try ocsp(eco, server, ["-cert", bad], respout: eco.file("bad.ocsp"))
        #expect(badAnswer.stdout.contains("Reason: keyCompromise"), "\(badAnswer.output)")
        let unknown = try ocsp(eco, server, ["-serial", "0x0123456789ABCDEF0123"], respout: eco.file("unknown.ocsp"))
        #expect(unknown.stdout.contains(": unknown"), "\(unknown.output)")

        for response in ["good.ocsp", "bad.ocsp", "unknown.ocsp"] {
            let lint = try Tools.run(
                "\(Tools.verifierBin)/lint_ocsp_response", ["lint", "-s", "WARNING", eco.file(response)])
            #expect(lint.status == 0, "pkilint on \(response): \(lint.output)")
        }
        let ocsptool = try Tools.run(
            "ocsptool",
            [
                "--verify-response", "--load-signer", eco.vendorPEM("acme"), "--load-response", eco.file("good.ocsp"),
                "--inder",
            ])
        #expect(ocsptool.output.contains("Success"), "\(ocsptool.output)")

        // The CRL, as served at the URL the certificates carry.
        try eventually("the served CRL lists the revoked certificate") {
            try server.get("/crl/vendor-acme.crl", to: eco.file("acme.crl"))
            let text = try Tools.run(
                "openssl", ["crl", "-inform", "DER", "-in", eco.file("acme.crl"), "-noout", "-text"])
            return text.stdout.contains(try serial(of: bad))
        }
        expectSuccess(
            try Tools.run(
                "openssl", ["crl", "-inform", "DER", "-in", eco.file("acme.crl"), "-out", eco.file("acme-crl.pem")]))
        let accept = try Tools.run(
            "openssl",
            [
                "verify", "-crl_check", "-CAfile", eco.rootPEM, "-untrusted", eco.vendorPEM("acme"), "-CRLfile",
                eco.file("acme-crl.pem"), good,
            ])
        #expect(accept.status == 0, "\(accept.output)")
        let reject = try Tools.run(
            "openssl",
            [
                "verify", "-crl_check", "-CAfile", eco.rootPEM, "-untrusted", eco.vendorPEM("acme"), "-CRLfile",
                eco.file("acme-crl.pem"), bad,
            ])
        #expect(reject.status != 0)
        #expect(reject.output.contains("certificate revoked"), "\(reject.output)")

        let certtool = try Tools.run(
            "certtool",
            ["--verify-crl", "--load-ca-certificate", eco.vendorPEM("acme"), "--infile", eco.file("acme-crl.pem")])
        #expect(certtool.status == 0, "\(certtool.output)")
        #expect(certtool.output.contains("Verified"), "\(certtool.output)")
        for crl in ["acme.crl"] {
            let lint = try Tools.run(
                "\(Tools.verifierBin)/lint_crl", ["lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", eco.file(crl)])
            #expect(lint.status == 0, "pkilint on \(crl): \(lint.output)")
        }
        try server.get("/crl/root.crl", to: eco.file("root.crl"))
        let rootLint = try Tools.run(
            "\(Tools.verifierBin)/lint_crl", ["lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", eco.file("root.crl")])
        #expect(rootLint.status == 0, "pkilint on the root CRL: \(rootLint.output)")

        let metrics = try Tools.run("curl", ["-sf", "\(server.baseURL)/metrics"])
        #expect(metrics.stdout.contains("fleetkey_certificates_revoked_total"), "\(metrics.stdout.prefix(2000))")
        // Garbage is a malformedRequest, not a crash or an HTTP error.
        let garbage = try Tools.run(
            "curl",
            [
                "-s", "-o", eco.file("garbage.ocsp"), "-w", "%{http_code}", "-H",
                "Content-Type: application/ocsp-request", "--data-binary", "hello", "\(server.baseURL)/ocsp",
            ])
        #expect(garbage.stdout == "200")
        let parsed = try Tools.run("openssl", ["ocsp", "-respin", eco.file("garbage.ocsp"), "-resp_text", "-noverify"])
        #expect(parsed.output.contains("malformedrequest"), "\(parsed.output)")
    }

    @Test("with --tls-cert and --tls-key the same endpoints are served over HTTPS")
    func tls() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        expectSuccess(
            try Tools.run(
                "openssl",
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    eco.file("tls.key"),
                    "-out", eco.file("tls.pem"), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ]))
        let server = try RunningServer(
            eco, arguments: ["--tls-cert", eco.file("tls.pem"), "--tls-key", eco.file("tls.key")],
            healthCheck: ["--cacert", eco.file("tls.pem")])
        defer { server.stop() }
        let health = try Tools.run("curl", ["-sf", "--cacert", eco.file("tls.pem"), "\(server.baseURL)/healthz"])
        #expect(health.stdout == "ok\n")
        let crl = try Tools.run(
            "curl",
            [
                "-sf", "--cacert", eco.file("tls.pem"), "-o", eco.file("tls.crl"),
                "\(server.baseURL)/crl/vendor-acme.crl",
            ])
        expectSuccess(crl)
        #expect(try Tools.run("openssl", ["crl", "-inform", "DER", "-in", eco.file("tls.crl"), "-noout"]).status == 0)
        let plain = try Tools.run("curl", ["-s", "-o", "/dev/null", "http://127.0.0.1:\(server.port)/healthz"])
        #expect(plain.status != 0, "plain HTTP must not be answered on the TLS port")
    }

    @Test("revoking a lot of 1,000 devices: OCSP reports every one revoked and the CRL lists every one")
    func lotOfThousand() async throws {
        let eco = try CLIEcosystem()
        // Issue the lot in process through the same core, registry and keystore the CLI uses.
        let registry = try SQLiteRegistry(path: "\(eco.dir)/registry.sqlite")
        let keystore = try SoftwareKeystore(
            directory: URL(fileURLWithPath: "\(eco.dir)/keys"), passphrase: Passphrase(CLIEcosystem.passphrase),
            cost: ScryptCost(log2N: 14))
        let policy = try EcosystemPolicy.decode(try Data(contentsOf: URL(fileURLWithPath: "\(eco.dir)/policy.json")))
        let ecosystem = Ecosystem(
            policy: policy, store: registry, custody: keystore, clock: SystemWallClock(), random: SystemRandomSource(),
            actor: "test")
        let authority = try await ecosystem.vendorAuthority(try VendorName("Acme"))
        var serials: [String] = []
        for index in 0..<1000 {
            let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
            let request = try RequestBuilder.deviceRequest(
                vendor: try VendorName("Acme"), serial: try DeviceSerial("LOT-\(index)"), hardwareModule: nil, key: key)
            serials.append(
                try await ecosystem.issueDeviceIdentity(.init(csr: try request.derBytes(), lot: "BIG"), by: authority)
                    .record.serial)
        }
        let server = try RunningServer(eco)
        defer { server.stop() }
        let revoke = try eco.fleetkey(["revoke", "--lot", "Acme/BIG", "--reason", "keyCompromise", "--json"])
        expectSuccess(revoke)
        #expect(revoke.stdout.contains("\"devices\" : 1000"))

        var revoked = 0
        try eventually("OCSP reports the lot revoked") {
            try ocsp(eco, server, ["-serial", "0x\(serials[999])"]).stdout.contains(": revoked")
        }
        for batch in stride(from: 0, to: serials.count, by: 50) {
            let answer = try ocsp(
                eco, server, serials[batch..<min(batch + 50, serials.count)].flatMap { ["-serial", "0x\($0)"] })
            revoked += answer.stdout.components(separatedBy: ": revoked").count - 1
        }
        #expect(revoked == 1000)

        try eventually("the CRL lists the whole lot") {
            try server.get("/crl/vendor-acme.crl", to: eco.file("lot.crl"))
            let crl = try CertificateList(
                derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: eco.file("lot.crl")))))
            return Set(crl.tbsCertList.revokedCertificates.map { Hex.upper($0.serial) }).isSuperset(of: serials)
        }
        let devices = try eco.fleetkey(["device", "list", "--lot", "BIG", "--state", "revoked", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(devices.stdout.utf8)) as? [Any])?.count == 1000)
    }

    @Test("SIGKILL during a burst of revocations loses no acknowledged revocation, and CRL numbers never go back")
    func killDuringBurst() async throws {
        let eco = try CLIEcosystem()
        var files: [String] = []
        for index in 0..<12 { files.append(try issue(eco, "K-\(index)")) }
        let serials = try files.map(serial(of:))
        let first = try RunningServer(eco)
        try first.get("/crl/vendor-acme.crl", to: eco.file("before.crl"))
        let numberBefore =
            try CertificateList(derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: eco.file("before.crl")))))
            .tbsCertList.crlNumber ?? 0

        // A burst of revocations from other processes; the server dies in the middle of it.
        var acknowledged: [String] = []
        for (index, serial) in serials.enumerated() {
            if index == 6 { first.kill() }
            let result = try eco.fleetkey(["revoke", "--serial", serial, "--reason", "keyCompromise"])
            if result.status == 0 { acknowledged.append(serial) }
        }
        #expect(acknowledged.count == 12)

        let second = try RunningServer(eco, port: first.port)
        defer { second.stop() }
        for serial in acknowledged {
            let answer = try ocsp(eco, second, ["-serial", "0x\(serial)"])
            #expect(answer.stdout.contains(": revoked"), "\(serial): \(answer.output)")
        }
        try second.get("/crl/vendor-acme.crl", to: eco.file("after.crl"))
        let after = try CertificateList(
            derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: eco.file("after.crl")))))
        #expect(Set(after.tbsCertList.revokedCertificates.map { Hex.upper($0.serial) }).isSuperset(of: acknowledged))
        #expect((after.tbsCertList.crlNumber ?? 0) > numberBefore)
    }
}
