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
        // The root CRL comes from a key ceremony, where the root key is: the server never signs it.
        expectSuccess(try eco.fleetkey(["crl", "publish", "--issuer", "root"]))
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
        expectSuccess(try eco.fleetkey(["crl", "publish", "--issuer", "root"]))
        let server = try RunningServer(
            eco, arguments: ["--tls-cert", eco.file("tls.pem"), "--tls-key", eco.file("tls.key")],
            healthCheck: ["--cacert", eco.file("tls.pem")])
        defer { server.stop() }
        let health = try Tools.run("curl", ["-sf", "--cacert", eco.file("tls.pem"), "\(server.baseURL)/healthz"])
        #expect(health.stdout == "ok\n")
        // TLS 1.2 at least (RFC 9325 §3.1.1): a TLS 1.1 client is refused even when it would accept weak suites.
        for (version, accepted) in [("-tls1_1", false), ("-tls1", false), ("-tls1_2", true), ("-tls1_3", true)] {
            let handshake = try Tools.run(
                "openssl",
                [
                    "s_client", "-connect", "127.0.0.1:\(server.port)", version, "-cipher", "DEFAULT@SECLEVEL=0",
                    "-CAfile", eco.file("tls.pem"),
                ], stdin: Data())
            #expect((handshake.status == 0) == accepted, "openssl s_client \(version): \(handshake.output.suffix(800))")
        }
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

/// What issues #11 and #12 asked of `fleetkey serve`, checked on the real binary with openssl and curl.
extension ServeTests {
    /// The registry of `eco`, opened in process (read-only use).
    func registry(_ eco: CLIEcosystem) throws -> SQLiteRegistry {
        try SQLiteRegistry(path: "\(eco.dir)/registry.sqlite")
    }

    /// A CA bundle with the root and Acme's CA, for openssl's -CAfile.
    func trust(_ eco: CLIEcosystem) throws -> String {
        let chain = eco.file("trust.pem")
        try
            (String(contentsOfFile: eco.rootPEM, encoding: .utf8)
            + String(contentsOfFile: eco.vendorPEM("acme"), encoding: .utf8))
            .write(toFile: chain, atomically: true, encoding: .utf8)
        return chain
    }

    /// curl's HTTP status for `url`, the body written to `file`.
    func fetch(_ url: String, to file: String, _ options: [String] = []) throws -> String {
        try Tools.run("curl", ["-s", "--path-as-is", "-o", file, "-w", "%{http_code}"] + options + [url]).stdout
    }

    @Test(
        "with the root key gone (keystore file or token), serve runs a full cycle: OCSP, CRLs, deny lists, revocations",
        arguments: [false, true])
    func withoutRootKey(_ rootInToken: Bool) async throws {
        let hsm = rootInToken ? try SoftHSMTokens(labels: ["fleet-root"]) : nil
        let eco = try CLIEcosystem(
            vendors: ["Acme"], rootKey: hsm?.uri(token: "fleet-root", object: "root"),
            environment: hsm?.environment ?? [:])
        let good = try issue(eco, "NR-GOOD")
        let bad = try issue(eco, "NR-BAD")
        // The key ceremony: the root signs its CRL, stored in the registry and written to DIR/crl/root.crl.
        expectSuccess(try eco.fleetkey(["crl", "publish", "--issuer", "root"]))
        let ceremonyCRL = try Data(contentsOf: URL(fileURLWithPath: "\(eco.dir)/crl/root.crl"))

        // Then the root key leaves: its keystore file (found through the registry's key reference), or its token.
        let reference = try #require(try await registry(eco).authority(id: "root")).keyReference
        if let hsm {
            #expect(reference.hasPrefix("pkcs11:"))
            try hsm.deleteToken("fleet-root")
        } else {
            let label = try #require(reference.split(separator: ":", maxSplits: 1).last)
            let file = "\(eco.dir)/keys/\(label).key.json"
            #expect(FileManager.default.fileExists(atPath: file), "no keystore file \(file) for \(reference)")
            try FileManager.default.removeItem(atPath: file)
        }
        let ceremony = try eco.fleetkey(["crl", "publish", "--issuer", "root"])
        #expect(ceremony.status != 0, "the root key is still reachable: \(ceremony.output)")

        let server = try RunningServer(eco)
        defer { server.stop() }
        #expect(try ocsp(eco, server, ["-cert", good]).stdout.contains("\(good): good"))
        // A revocation recorded by another process reaches OCSP, the vendor CRL and the deny list.
        expectSuccess(try eco.fleetkey(["revoke", "--serial", try serial(of: bad), "--reason", "keyCompromise"]))
        try eventually("OCSP reports the revoked certificate") {
            try ocsp(eco, server, ["-cert", bad]).stdout.contains("\(bad): revoked")
        }
        try eventually("the vendor CRL lists the revoked certificate") {
            #expect(try fetch("\(server.baseURL)/crl/vendor-acme.crl", to: eco.file("nr.crl")) == "200")
            let crl = try CertificateList(
                derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: eco.file("nr.crl")))))
            return crl.tbsCertList.revokedCertificates.map { Hex.upper($0.serial) }.contains(try serial(of: bad))
        }
        #expect(try fetch("\(server.baseURL)/denylist/vendor-acme", to: eco.file("nr.dl")) == "200")
        let list = try DenyList(derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: eco.file("nr.dl")))))
        #expect(list.tbs.entries.map(\.device) == ["NR-BAD"])
        // The root CRL served is the ceremony's, byte for byte; the root certificate is served too.
        #expect(try fetch("\(server.baseURL)/crl/root.crl", to: eco.file("nr-root.crl")) == "200")
        #expect(try Data(contentsOf: URL(fileURLWithPath: eco.file("nr-root.crl"))) == ceremonyCRL)
        #expect(try fetch("\(server.baseURL)/ca/root.cer", to: eco.file("nr-root.cer")) == "200")
        // The whole chain checked against CRLs, as a relying party would: the root's for Acme's CA, Acme's for devices.
        for crl in ["nr.crl", "nr-root.crl"] {
            expectSuccess(
                try Tools.run(
                    "openssl", ["crl", "-inform", "DER", "-in", eco.file(crl), "-out", eco.file("\(crl).pem")]))
        }
        let crlFiles = ["-CRLfile", eco.file("nr.crl.pem"), "-CRLfile", eco.file("nr-root.crl.pem")]
        let chainArguments = ["verify", "-crl_check_all", "-CAfile", eco.rootPEM, "-untrusted", eco.vendorPEM("acme")]
        let accept = try Tools.run("openssl", chainArguments + crlFiles + [good])
        #expect(accept.status == 0, "\(accept.output)")
        let reject = try Tools.run("openssl", chainArguments + crlFiles + [bad])
        #expect(reject.status != 0 && reject.output.contains("certificate revoked"), "\(reject.output)")
        #expect(!server.output.contains("root.key"), "\(server.output.suffix(2000))")
    }

    @Test("with no root CRL published, /healthz warns and fleetkey_root_crl_warning is 1; a ceremony clears both")
    func rootCRLWarnings() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        // `init` and `vendor add` leave a first root CRL; a registry without one (made before they did, or whose CRL
        // row was lost) is what this test serves from.
        expectSuccess(
            try Tools.run("sqlite3", ["\(eco.dir)/registry.sqlite", "DELETE FROM crls WHERE issuer = 'root'"]))
        let server = try RunningServer(eco)
        defer { server.stop() }
        let health = try Tools.run("curl", ["-s", "\(server.baseURL)/healthz"])
        #expect(health.stdout.hasPrefix("warn\n") && health.stdout.contains("fleetkey crl publish --issuer root"))
        #expect(
            try Tools.run("curl", ["-s", "\(server.baseURL)/metrics"]).stdout.contains("fleetkey_root_crl_warning 1"))
        #expect(try fetch("\(server.baseURL)/crl/root.crl", to: eco.file("none.crl")) == "404")
        expectSuccess(try eco.fleetkey(["crl", "publish", "--issuer", "root"]))
        try eventually("the server serves the ceremony's root CRL and stops warning") {
            try Tools.run("curl", ["-s", "\(server.baseURL)/healthz"]).stdout == "ok\n"
        }
        #expect(
            try Tools.run("curl", ["-s", "\(server.baseURL)/metrics"]).stdout.contains("fleetkey_root_crl_warning 0"))
        #expect(try fetch("\(server.baseURL)/crl/root.crl", to: eco.file("root.crl")) == "200")
    }

    @Test("curl fetches a deny list and a delta; openssl verifies both signatures with the vendor CA's key")
    func denyLists() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        for name in ["SD-1", "SD-2", "SD-3"] { _ = try issue(eco, name) }
        expectSuccess(try eco.fleetkey(["revoke", "--device", "SD-1", "--reason", "keyCompromise"]))
        let server = try RunningServer(eco)
        defer { server.stop() }
        let key = try Tools.run("openssl", ["x509", "-in", eco.vendorPEM("acme"), "-noout", "-pubkey"])
        try Data(key.stdout.utf8).write(to: URL(fileURLWithPath: eco.file("acme-pub.pem")))
        func verified(_ file: String) throws -> DenyList {
            let list = try DenyList(derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: file))))
            try Data(list.tbsBytes).write(to: URL(fileURLWithPath: file + ".tbs"))
            try Data(list.signatureValue).write(to: URL(fileURLWithPath: file + ".sig"))
            let check = try Tools.run(
                "openssl",
                ["dgst", "-sha256", "-verify", eco.file("acme-pub.pem"), "-signature", file + ".sig", file + ".tbs"])
            #expect(check.status == 0 && check.stdout.contains("Verified OK"), "\(check.output)")
            return list
        }

        let headers = try Tools.run(
            "curl", ["-s", "-D", "-", "-o", eco.file("full.dl"), "\(server.baseURL)/denylist/vendor-acme"])
        #expect(headers.stdout.hasPrefix("HTTP/1.1 200"))
        #expect(headers.stdout.lowercased().contains("cache-control: max-age="))
        #expect(headers.stdout.lowercased().contains("content-type: application/vnd.fleetkey.deny-list+der"))
        let full = try verified(eco.file("full.dl"))
        #expect(full.tbs.entries.map(\.device) == ["SD-1"] && full.tbs.baseNumber == nil)

        expectSuccess(try eco.fleetkey(["revoke", "--device", "SD-3", "--reason", "superseded"]))
        try eventually("the delta since the full list has the new revocation") {
            let status = try fetch(
                "\(server.baseURL)/denylist/vendor-acme?since=\(full.tbs.number)", to: eco.file("delta.dl"))
            guard status == "200" else { return false }
            let delta = try DenyList(
                derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: eco.file("delta.dl")))))
            return delta.tbs.entries.map(\.device) == ["SD-3"]
        }
        let delta = try verified(eco.file("delta.dl"))
        #expect(delta.tbs.baseNumber == full.tbs.number && delta.tbs.number > full.tbs.number)
        #expect(try fetch("\(server.baseURL)/denylist/vendor-acme?since=x", to: eco.file("bad.txt")) == "400")
        #expect(try fetch("\(server.baseURL)/denylist/vendor-nobody", to: eco.file("none.txt")) == "404")
    }

    @Test("OCSP over GET: base64 with //, a trailing /, + and =, raw and percent-encoded, is answered as over POST")
    func ocspOverGet() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let device = try issue(eco, "GET-1")
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: device, encoding: .utf8))
        let vendor = try Certificate(pemEncoded: String(contentsOfFile: eco.vendorPEM("acme"), encoding: .utf8))
        let server = try RunningServer(eco)
        defer { server.stop() }
        // Requests with a random nonce (of random length) until their base64 has what is wanted.
        func request(_ wanted: (String) -> Bool) throws -> String {
            for _ in 0..<200_000 {
                let nonce = try OCSPNonce((0..<Int.random(in: 8...40)).map { _ in UInt8.random(in: 0...255) })
                let base64 = Data(
                    try OCSPRequestBuilder.requestDER(issuer: vendor, serial: certificate.serialNumber, nonce: nonce)
                ).base64EncodedString()
                if wanted(base64) { return base64 }
            }
            throw FleetkeyError(.notFound, "no request with the wanted base64")
        }
        let chain = try trust(eco)
        for base64 in [
            try request { $0.contains("//") }, try request { $0.hasSuffix("/") },
            try request { $0.contains("+") && $0.hasSuffix("=") },
        ] {
            let encoded = base64.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? base64
            for path in ["/ocsp/vendor-acme/\(base64)", "/ocsp/vendor-acme/\(encoded)", "/ocsp/\(base64)"] {
                #expect(try fetch("\(server.baseURL)\(path)", to: eco.file("get.ocsp")) == "200")
                let answer = try Tools.run(
                    "openssl",
                    [
                        "ocsp", "-respin", eco.file("get.ocsp"), "-issuer", eco.vendorPEM("acme"), "-cert", device,
                        "-CAfile", chain, "-no_nonce",
                    ])
                #expect(answer.stdout.contains("\(device): good"), "\(path): \(answer.output)")
                #expect(answer.output.contains("Response verify OK"), "\(path): \(answer.output)")
            }
        }
    }

    @Test("--metrics-listen serves /metrics on its own address, and the public listener no longer does")
    func metricsListener() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let metricsPort = LoopbackPort.reserve()
        let server = try RunningServer(eco, arguments: ["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        defer { server.stop() }
        let metrics = try Tools.run("curl", ["-s", "-w", "\n%{http_code}", "http://127.0.0.1:\(metricsPort)/metrics"])
        #expect(metrics.stdout.hasSuffix("\n200") && metrics.stdout.contains("fleetkey_root_crl_warning"))
        #expect(try fetch("\(server.baseURL)/metrics", to: eco.file("metrics.txt")) == "404")
        #expect(try fetch("http://127.0.0.1:\(metricsPort)/ocsp", to: eco.file("none.txt")) == "404")
    }

    @Test("a port already taken: serve exits 1 naming the option and the address, not the socket call")
    func portInUse() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let server = try RunningServer(eco)
        defer { server.stop() }
        let taken = "127.0.0.1:\(server.port)"
        let second = try eco.fleetkey(["serve", "--listen", taken])
        #expect(second.status == 1)
        #expect(
            second.stderr.contains(
                "error [configuration]: --listen \(taken): cannot listen: the address is already in use"),
            "\(second.output)")
        let metrics = try eco.fleetkey([
            "serve", "--listen", "127.0.0.1:\(LoopbackPort.reserve())", "--metrics-listen", taken,
        ])
        #expect(metrics.status == 1)
        #expect(metrics.stderr.contains("--metrics-listen \(taken): cannot listen"), "\(metrics.output)")
    }

    @Test("/ca/ is served from memory: the certificates the registry held when the server started, read once")
    func caFromMemory() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let server = try RunningServer(eco)
        defer { server.stop() }
        let expected = try Certificate(pemEncoded: String(contentsOfFile: eco.vendorPEM("acme"), encoding: .utf8))
            .derBytes()
        #expect(try fetch("\(server.baseURL)/ca/vendor-acme.cer", to: eco.file("a.cer")) == "200")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: eco.file("a.cer")))) == expected)
        // Whatever the registry says now, a request does not ask it.
        expectSuccess(
            try Tools.run(
                "sqlite3",
                ["\(eco.dir)/registry.sqlite", "UPDATE authorities SET certificate = X'3000' WHERE id = 'vendor-acme'"])
        )
        #expect(try fetch("\(server.baseURL)/ca/vendor-acme.cer", to: eco.file("b.cer")) == "200")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: eco.file("b.cer")))) == expected)
        #expect(try fetch("\(server.baseURL)/ca/vendor-nobody.cer", to: eco.file("c.txt")) == "404")
    }

    @Test("strangers are bounded: 415 without the OCSP media type, 413 for large bodies, --help names the limits")
    func strangerLimits() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let server = try RunningServer(eco)
        defer { server.stop() }
        // curl's default form type, and no Content-Type at all (RFC 6960 §A.1 requires application/ocsp-request).
        for header in [[], ["-H", "Content-Type:"]] {
            let untyped = try Tools.run(
                "curl",
                ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "hello"] + header
                    + ["\(server.baseURL)/ocsp"])
            #expect(untyped.stdout == "415", "\(header)")
        }
        try Data(repeating: 0x30, count: 20_000).write(to: URL(fileURLWithPath: eco.file("large.bin")))
        let large = try Tools.run(
            "curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/ocsp-request",
                "--data-binary", "@\(eco.file("large.bin"))", "\(server.baseURL)/ocsp",
            ])
        #expect(large.stdout == "413")
        let help = try eco.fleetkey(["serve", "--help"])
        for option in [
            "--metrics-listen", "--idle-timeout", "--header-timeout", "--max-connections", "--client-signature-rate",
            "--ocsp-max-certids", "crl publish --issuer root", "/denylist/ISSUER",
        ] {
            #expect(help.stdout.contains(option), "serve --help does not mention \(option)")
        }
    }
}

/// The revocation poll against a real PostgreSQL registry (scripts/test starts one; FLEETKEY_TEST_POSTGRES_URL).
extension ServeTests {
    @Test(
        "the revocation poll has a PostgreSQL connection of its own: with every request connection stuck, it still runs"
    )
    func pollOnItsOwnConnection() async throws {
        guard let server = ProcessInfo.processInfo.environment["FLEETKEY_TEST_POSTGRES_URL"], !server.isEmpty else {
            Issue.record("FLEETKEY_TEST_POSTGRES_URL is not set: run scripts/test, or scripts/postgres start DIR")
            return
        }
        let name = "fk_serve_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        expectSuccess(try Tools.run("psql", ["-X", "-q", server, "-c", "CREATE DATABASE \(name)"]))
        var components = try #require(URLComponents(string: server))
        components.path = "/\(name)"
        let database = try #require(components.string)
        defer {
            _ = try? Tools.run("psql", ["-X", "-q", server, "-c", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
        }
        let eco = try CLIEcosystem(vendors: ["Acme"], database: database)
        let device = try issue(eco, "PG-1")
        let running = try RunningServer(eco, arguments: ["--client-signature-burst", "10000"])
        defer { running.stop() }
        let vendor = try Certificate(pemEncoded: String(contentsOfFile: eco.vendorPEM("acme"), encoding: .utf8))

        // Every status read of the request path now waits: it joins the devices table, which this session locks.
        let lock = try PsqlSession(url: database)
        defer { lock.close() }
        try lock.run("BEGIN; LOCK TABLE devices IN ACCESS EXCLUSIVE MODE;", until: "locked")
        // More OCSP cache misses than the request pool has connections (20), so it is exhausted and queued.
        var flood: [Process] = []
        for index in 0..<30 {
            let serial = Certificate.SerialNumber(bytes: [0x50, 0x47, UInt8(index), 0x01])
            let body = eco.file("flood-\(index).der")
            try Data(try OCSPRequestBuilder.requestDER(issuer: vendor, serial: serial))
                .write(to: URL(fileURLWithPath: body))
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: Tools.which("curl") ?? "/usr/bin/curl")
            curl.arguments = [
                "-s", "-o", "/dev/null", "--max-time", "90", "-H", "Content-Type: application/ocsp-request",
                "--data-binary", "@\(body)", "\(running.baseURL)/ocsp",
            ]
            try curl.run()
            flood.append(curl)
        }
        defer { for curl in flood where curl.isRunning { curl.terminate() } }
        try eventually("the request pool's 20 connections all wait on the lock") {
            let waiting = try Tools.run(
                "psql",
                [
                    "-X", "-q", "-A", "-t", database, "-c",
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(name)' AND wait_event_type = 'Lock'",
                ])
            return (Int(waiting.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 20
        }
        // A revocation lands in the event log (written directly: `fleetkey revoke` would wait on the same lock).
        expectSuccess(
            try Tools.run(
                "psql",
                [
                    "-X", "-q", database, "-c",
                    "INSERT INTO events (at, actor, action, subject, detail) VALUES (now(), 'test', "
                        + "'certificate.revoked', 'certificate:vendor-acme/\(try serial(of: device))', '{}')",
                ]))
        try eventually("the server's poll sees the revocation while the request pool is stuck") {
            try Tools.run("curl", ["-s", "--max-time", "5", "\(running.baseURL)/metrics"]).stdout
                .contains("fleetkey_certificates_revoked_total 1")
        }
        try lock.run("ROLLBACK;", until: "released")
    }
}

/// A slow stranger against the real binary, with the default limits.
extension ServeTests {
    @Test("a request head trickled in a line at a time loses its connection (default header timeout, 10 s)")
    func slowHeadIsCut() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let server = try RunningServer(eco)
        defer { server.stop() }
        // Python's socket module: one header line every half second, for at most 40 s, until the server closes.
        let script = """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", \(server.port)))
            s.settimeout(0.5)
            s.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n")
            start = time.time()
            while time.time() - start < 40:
                try:
                    s.sendall(b"X-Slow: a\\r\\n")
                    if s.recv(4096) == b"":
                        print("closed after %.0f s" % (time.time() - start)); sys.exit(0)
                except socket.timeout:
                    continue
                except OSError:
                    print("closed after %.0f s" % (time.time() - start)); sys.exit(0)
            print("still open"); sys.exit(1)
            """
        let result = try Tools.run("python3", ["-c", script])
        #expect(result.status == 0 && result.stdout.hasPrefix("closed"), "\(result.output)")
    }
}
