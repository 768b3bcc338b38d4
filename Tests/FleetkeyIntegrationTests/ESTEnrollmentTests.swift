import FleetkeyCore
import FleetkeySQLite
import Foundation
import Testing

/// EST (RFC 7030) on an owner's `fleetkey serve --est`, with curl and openssl as the client and the requests built by
/// Python's `cryptography` (Tests/Verifiers/est_request.py), so nothing on the client side is Fleetkey's code.
@Suite("EST enrollment with curl and openssl as the client", .serialized)
struct ESTEnrollmentTests {
    /// An ecosystem with a lot of five devices shipped to Globex (and a lot of one that was not), Globex's registry with
    /// a domain CA, both servers running, and a TLS identity for EST made by openssl.
    final class Fixture {
        let eco: CLIEcosystem
        let ecosystemServer: RunningServer
        var ownerServer: RunningServer?
        let owner: String
        let ownerPort: Int
        let estPort: Int

        /// `environment`: more for every `fleetkey` process (a SoftHSM2 token's). `domainKey`: a PKCS#11 URI for the
        /// domain CA's key (`owner ca create --key`).
        init(environment: [String: String] = [:], domainKey: String? = nil) throws {
            let ecoPort = LoopbackPort.reserve()
            ownerPort = LoopbackPort.reserve()
            estPort = LoopbackPort.reserve()
            eco = try CLIEcosystem(
                vendors: ["Acme"], baseURL: "http://127.0.0.1:\(ecoPort)", environment: environment)
            owner = eco.file("globex")
            expectSuccess(
                try eco.fleetkey(["factory", "provision", "--vendor", "Acme", "--lot", "L1", "--count", "5"]))
            expectSuccess(
                try eco.fleetkey(["factory", "provision", "--vendor", "Acme", "--lot", "L2", "--count", "1"]))
            expectSuccess(
                try eco.fleetkey([
                    "manifest", "export", "--vendor", "Acme", "--lot", "L1", "--buyer", "Globex", "--out",
                    eco.file("L1.manifest"),
                ]))
            ecosystemServer = try RunningServer(eco, port: ecoPort)
            expectSuccess(
                try eco.fleetkey(["owner", "init", "--dir", owner, "--name", "Globex", "--trust-anchor", eco.rootPEM]))
            expectSuccess(try eco.fleetkey(["manifest", "import", eco.file("L1.manifest"), "--dir", owner]))
            expectSuccess(
                try eco.fleetkey(
                    [
                        "owner", "ca", "create", "--dir", owner, "--base-url", "http://127.0.0.1:\(ownerPort)",
                        "--kdf-log2n", "14",
                    ] + (domainKey.map { ["--key", $0] } ?? [])))
            // The EST server's TLS identity, from a throwaway CA the clients are given.
            for arguments in [
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    eco.file("tls-ca.key"), "-out", eco.file("tls-ca.pem"), "-subj", "/CN=EST test TLS CA", "-days",
                    "2",
                ],
                [
                    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    eco.file("est.key"), "-out", eco.file("est.csr"), "-subj", "/CN=127.0.0.1",
                ],
            ] {
                expectSuccess(try Tools.run("openssl", arguments))
            }
            try "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n".write(
                toFile: eco.file("est.ext"), atomically: true, encoding: .utf8)
            expectSuccess(
                try Tools.run(
                    "openssl",
                    [
                        "x509", "-req", "-in", eco.file("est.csr"), "-CA", eco.file("tls-ca.pem"), "-CAkey",
                        eco.file("tls-ca.key"), "-CAcreateserial", "-out", eco.file("est.pem"), "-days", "1",
                        "-extfile", eco.file("est.ext"),
                    ]))
            try startOwnerServer()
        }

        func startOwnerServer() throws {
            ownerServer = try RunningServer(
                eco, port: ownerPort,
                arguments: [
                    "--dir", owner, "--est", "--est-listen", "127.0.0.1:\(estPort)", "--est-tls-cert",
                    eco.file("est.pem"), "--est-tls-key", eco.file("est.key"), "--status-cache-seconds", "0",
                ])
        }

        /// Edits the owner's policy.json (as an operator would) and restarts its server to read it.
        func editPolicy(_ edit: (inout [String: Any]) -> Void) throws {
            ownerServer?.stop()
            let url = URL(fileURLWithPath: owner).appendingPathComponent("policy.json")
            var policy = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            edit(&policy)
            try JSONSerialization.data(withJSONObject: policy, options: [.prettyPrinted]).write(to: url)
            try startOwnerServer()
        }

        var registry: SQLiteRegistry {
            get throws { try SQLiteRegistry(path: "\(owner)/registry.sqlite") }
        }

        /// A provisioned device's factory identity, taken out of its emulated element: the certificate, and the key,
        /// exported for this test only.
        func factoryIdentity(_ serial: String) throws -> (certificate: String, key: String) {
            let element = "\(eco.dir)/elements/vendor-acme/vendor-acme.\(serial).se.json"
            let state =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: element)))
                as! [String: Any]
            let slot = (state["slots"] as! [[String: Any]])[0]
            let der = eco.file("\(serial)-idevid.der")
            try Data(base64Encoded: slot["certificate"] as! String)!.write(to: URL(fileURLWithPath: der))
            let certificate = eco.file("\(serial)-idevid.pem")
            expectSuccess(try Tools.run("openssl", ["x509", "-inform", "DER", "-in", der, "-out", certificate]))
            let key = eco.file("\(serial)-idevid.key")
            expectSuccess(try python(["export-key", element, "0", key]))
            return (certificate, key)
        }

        func python(_ arguments: [String]) throws -> CommandResult {
            try Tools.run(
                "\(Tools.verifierBin)/python",
                [Tools.packageRoot.appendingPathComponent("Tests/Verifiers/est_request.py").path] + arguments)
        }

        /// A request for `serial`'s subject, bound by `authKey`; a new key goes to `newKey` unless `keyIn` is given.
        func request(
            _ name: String, serial: String, authKey: String, newKey: String? = nil, keyIn: String? = nil,
            binding: Bool = true
        ) throws -> String {
            let out = eco.file("\(name).b64")
            var arguments = ["csr", "--auth-key", authKey, "--o", "Acme", "--serial", serial, "--out", out]
            if let keyIn {
                arguments += ["--key-in", keyIn]
            } else {
                arguments += ["--key-out", newKey ?? eco.file("\(name).key")]
            }
            if !binding { arguments.append("--no-binding") }
            expectSuccess(try python(arguments))
            return out
        }

        struct Answer {
            var status: Int
            var body: String
            var headers: String
        }

        /// POSTs a request to an EST operation with curl, authenticating with `certificate` and `key` when given.
        func post(_ operation: String, _ body: String, certificate: String? = nil, key: String? = nil) throws -> Answer
        {
            let out = eco.file("answer-\(UUID().uuidString.prefix(8))")
            var arguments = [
                "-s", "--cacert", eco.file("tls-ca.pem"), "-H", "Content-Type: application/pkcs10", "--data-binary",
                "@\(body)", "-o", out, "-D", out + ".headers", "-w", "%{http_code}",
            ]
            if let certificate, let key { arguments += ["--cert", certificate, "--key", key] }
            let result = try Tools.run(
                "curl", arguments + ["https://127.0.0.1:\(estPort)/.well-known/est/\(operation)"])
            return Answer(
                status: Int(result.stdout) ?? 0, body: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                headers: (try? String(contentsOfFile: out + ".headers", encoding: .utf8)) ?? "")
        }

        /// The certificate of a certs-only answer, as PEM written by openssl.
        func certificate(of answer: Answer, as name: String) throws -> String {
            let der = eco.file("\(name).p7")
            try Data(base64Encoded: answer.body, options: .ignoreUnknownCharacters)!.write(
                to: URL(fileURLWithPath: der))
            let pem = eco.file("\(name).pem")
            expectSuccess(
                try Tools.run("openssl", ["pkcs7", "-inform", "DER", "-in", der, "-print_certs", "-out", pem]))
            return pem
        }

        /// Checks `pem` with openssl and certtool against the domain CA.
        func expectVerifies(_ pem: String) throws {
            let domainCA = "\(owner)/certs/domain-ca.pem"
            let openssl = try Tools.run("openssl", ["verify", "-x509_strict", "-CAfile", domainCA, pem])
            #expect(openssl.status == 0 && openssl.stdout.contains(": OK"), "\(openssl.output)")
            let chain = eco.file("chain-\(UUID().uuidString.prefix(6)).pem")
            try (String(contentsOfFile: pem, encoding: .utf8) + String(contentsOfFile: domainCA, encoding: .utf8))
                .write(toFile: chain, atomically: true, encoding: .utf8)
            let certtool = try Tools.run("certtool", ["--verify-chain", "--infile", chain])
            #expect(certtool.status == 0, "\(certtool.output)")
            let anchored = try Tools.run("certtool", ["--verify", "--load-ca-certificate", domainCA, "--infile", pem])
            #expect(anchored.status == 0, "\(anchored.output)")
        }

        /// Checks that a refusal answered `status`, issued nothing, and recorded one `enrollment.refused` event with
        /// `rule`, the device (when known) and the peer's address.
        func expectRefused(
            _ answer: Answer, status: Int, rule: String, device: String?, issuedBefore: Int, refusedBefore: Int,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            #expect(answer.status == status, "\(answer.status): \(answer.body)", sourceLocation: sourceLocation)
            #expect(!answer.body.isEmpty && !answer.body.contains("\n\n"), sourceLocation: sourceLocation)
            let registry = try registry
            #expect(
                try await registry.certificateCount(issuer: Ecosystem.domainCAID) == issuedBefore,
                "a refused request issued a certificate", sourceLocation: sourceLocation)
            let refused = try await registry.events(subject: nil, limit: nil).filter { $0.action == .enrollmentRefused }
            #expect(refused.count == refusedBefore + 1, sourceLocation: sourceLocation)
            #expect(
                refused.last?.detail["rule"] == rule, "\(refused.last?.detail ?? [:])", sourceLocation: sourceLocation)
            #expect(refused.last?.detail["peer"] == "127.0.0.1", sourceLocation: sourceLocation)
            if let device {
                #expect(refused.last?.subject.description == "device:Acme/\(device)", sourceLocation: sourceLocation)
            }
        }

        func counts() async throws -> (issued: Int, refused: Int) {
            let registry = try registry
            return (
                try await registry.certificateCount(issuer: Ecosystem.domainCAID),
                try await registry.events(subject: nil, limit: nil).filter { $0.action == .enrollmentRefused }.count
            )
        }

        func state(_ serial: String) async throws -> DeviceState? {
            try await registry.device(DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial(serial)))?.state
        }

        deinit {
            ownerServer?.stop()
            ecosystemServer.stop()
        }
    }

    @Test(
        "curl enrolls a factory identity and re-enrolls its LDevID; openssl and certtool verify both; cacerts parses"
    )
    func enrollAndReenroll() async throws {
        let fixture = try Fixture()
        let cacerts = fixture.eco.file("cacerts.b64")
        expectSuccess(
            try Tools.run(
                "curl",
                [
                    "-sf", "--cacert", fixture.eco.file("tls-ca.pem"), "-o", cacerts,
                    "https://127.0.0.1:\(fixture.estPort)/.well-known/est/cacerts",
                ]))
        let cacertsDER = fixture.eco.file("cacerts.p7")
        try Data(base64Encoded: String(contentsOfFile: cacerts, encoding: .utf8), options: .ignoreUnknownCharacters)!
            .write(to: URL(fileURLWithPath: cacertsDER))
        let printed = try Tools.run("openssl", ["pkcs7", "-inform", "DER", "-in", cacertsDER, "-print_certs"])
        #expect(printed.status == 0 && printed.stdout.contains("subject=O = Globex, CN = Globex Domain CA"))

        let device = try fixture.factoryIdentity("L1-000001")
        let first = try fixture.request("first", serial: "L1-000001", authKey: device.key)
        let issued = try fixture.post("simpleenroll", first, certificate: device.certificate, key: device.key)
        #expect(issued.status == 200, "\(issued.body)")
        #expect(issued.headers.lowercased().contains("application/pkcs7-mime; smime-type=certs-only"))
        let ldevid = try fixture.certificate(of: issued, as: "ldevid-1")
        try fixture.expectVerifies(ldevid)
        let text = try Tools.run("openssl", ["x509", "-in", ldevid, "-noout", "-subject", "-ext", "extendedKeyUsage"])
        #expect(
            text.stdout.contains("serialNumber = L1-000001") && text.stdout.contains("TLS Web Client Authentication"))
        #expect(try await fixture.state("L1-000001") == .active)

        // Re-enrollment with the LDevID, for a new key, with the same subject (RFC 7030 §4.2.2).
        let renewal = try fixture.request(
            "renewal", serial: "L1-000001", authKey: fixture.eco.file("first.key"),
            newKey: fixture.eco.file("second.key"))
        let renewed = try fixture.post(
            "simplereenroll", renewal, certificate: ldevid, key: fixture.eco.file("first.key"))
        #expect(renewed.status == 200, "\(renewed.body)")
        let second = try fixture.certificate(of: renewed, as: "ldevid-2")
        try fixture.expectVerifies(second)
        let certificates = try await fixture.registry.certificates(
            forDevice: DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial("L1-000001"))
        )
        .filter { $0.issuer == Ecosystem.domainCAID }
        #expect(certificates.map(\.status) == [.revoked, .valid])
        #expect(certificates.first?.revocation?.reason == .superseded)

        // The same re-enrollment again (its answer lost on the way) gets the certificate already issued.
        let again = try fixture.post("simplereenroll", renewal, certificate: ldevid, key: fixture.eco.file("first.key"))
        #expect(again.status == 200)
        let repeated = try fixture.certificate(of: again, as: "ldevid-2b")
        #expect(
            try String(contentsOfFile: repeated, encoding: .utf8) == String(contentsOfFile: second, encoding: .utf8),
            "the repeated re-enrollment did not return the certificate already issued")
        #expect(try await fixture.counts().issued == 4)  // domain CA, its responder, two LDevIDs

        let keygen = try fixture.post("serverkeygen", renewal, certificate: second, key: fixture.eco.file("second.key"))
        #expect(keygen.status == 501)

        // The owner's own serve answers for the domain CA: the new LDevID is good, the superseded one revoked.
        let domainCA = "\(fixture.owner)/certs/domain-ca.pem"
        func ocsp(_ pem: String) throws -> String {
            try Tools.run(
                "openssl",
                [
                    "ocsp", "-issuer", domainCA, "-cert", pem, "-url",
                    "http://127.0.0.1:\(fixture.ownerPort)/ocsp/domain-ca", "-CAfile", domainCA, "-no_nonce",
                ]
            ).output
        }
        let current = try ocsp(second)
        #expect(current.contains("\(second): good"), "\(current)")
        var superseded = ""
        for _ in 0..<20 {
            superseded = try ocsp(ldevid)
            if superseded.contains("revoked") { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(superseded.contains("\(ldevid): revoked") && superseded.contains("Reason: superseded"), "\(superseded)")
        let oldSerial = try Tools.run("openssl", ["x509", "-in", ldevid, "-noout", "-serial"]).stdout
            .replacingOccurrences(of: "serial=", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
        var crl = CommandResult(status: 1, stdout: "", stderr: "")
        for _ in 0..<20 {
            try fixture.ownerServer!.get("/crl/domain-ca.crl", to: fixture.eco.file("domain-ca.crl"))
            crl = try Tools.run(
                "openssl",
                [
                    "crl", "-inform", "DER", "-in", fixture.eco.file("domain-ca.crl"), "-CAfile", domainCA, "-noout",
                    "-text",
                ])
            if crl.stdout.contains(oldSerial) { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(crl.output.contains("verify OK") && crl.stdout.contains(oldSerial), "\(crl.output)")
    }

    @Test("owner ca create refuses a new keystore's passphrase below the minimum, and writes nothing")
    func domainCAPassphraseMinimum() throws {
        let eco = try CLIEcosystem(vendors: [])
        let owner = eco.file("globex")
        expectSuccess(
            try eco.fleetkey(["owner", "init", "--dir", owner, "--name", "Globex", "--trust-anchor", eco.rootPEM]))
        let refused = try eco.fleetkey(
            ["owner", "ca", "create", "--dir", owner, "--kdf-log2n", "14"],
            environment: ["FLEETKEY_PASSPHRASE": "eleven-char"])
        #expect(refused.status == 1 && refused.stderr.contains("at least 12 characters"), "\(refused.output)")
        #expect(!refused.output.contains("eleven-char"))
        #expect(!FileManager.default.fileExists(atPath: "\(owner)/policy.json"))
        #expect(!FileManager.default.fileExists(atPath: "\(owner)/keys"))
    }

    @Test("a domain CA whose key is on a SoftHSM2 token issues LDevIDs that openssl verifies")
    func domainKeyOnToken() async throws {
        let hsm = try SoftHSMTokens(labels: ["owner-ca"])
        let fixture = try Fixture(
            environment: hsm.environment, domainKey: hsm.uri(token: "owner-ca", object: "domain-ca"))
        let shown = try fixture.eco.fleetkey(["owner", "ca", "show", "--dir", fixture.owner, "--json"])
        expectSuccess(shown)
        let view = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        #expect((view?["key"] as? String)?.hasPrefix("pkcs11:") == true, "\(shown.stdout)")
        let device = try fixture.factoryIdentity("L1-000001")
        let request = try fixture.request("token", serial: "L1-000001", authKey: device.key)
        let issued = try fixture.post("simpleenroll", request, certificate: device.certificate, key: device.key)
        #expect(issued.status == 200, "\(issued.body)")
        try fixture.expectVerifies(try fixture.certificate(of: issued, as: "token-ldevid"))
    }

    @Test("every refusal answers 401, 403 or 400 with a reason, issues nothing, and records an event")
    func refusals() async throws {
        let fixture = try Fixture()
        func counts() async throws -> (issued: Int, refused: Int) { try await fixture.counts() }

        // No client certificate.
        let three = try fixture.factoryIdentity("L1-000003")
        var before = try await counts()
        let anonymous = try fixture.request("anonymous", serial: "L1-000003", authKey: three.key)
        try await fixture.expectRefused(
            try fixture.post("simpleenroll", anonymous), status: 401, rule: "client-certificate", device: nil,
            issuedBefore: before.issued, refusedBefore: before.refused)

        // A revoked factory identity, once the vendor's CRL lists it.
        let two = try fixture.factoryIdentity("L1-000002")
        expectSuccess(try fixture.eco.fleetkey(["revoke", "--device", "Acme/L1-000002", "--reason", "keyCompromise"]))
        let serial = try Tools.run("openssl", ["x509", "-in", two.certificate, "-noout", "-serial"]).stdout
            .replacingOccurrences(of: "serial=", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
        var listed = false
        for _ in 0..<40 where !listed {
            try fixture.ecosystemServer.get("/crl/vendor-acme.crl", to: fixture.eco.file("vendor.crl"))
            let crl = try Tools.run(
                "openssl", ["crl", "-inform", "DER", "-in", fixture.eco.file("vendor.crl"), "-text"])
            listed = crl.stdout.contains(serial)
            if !listed { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(listed, "the vendor CRL never listed the revoked IDevID")
        before = try await counts()
        let revoked = try fixture.request("revoked", serial: "L1-000002", authKey: two.key)
        try await fixture.expectRefused(
            try fixture.post("simpleenroll", revoked, certificate: two.certificate, key: two.key), status: 403,
            rule: "status", device: nil, issuedBefore: before.issued, refusedBefore: before.refused)

        // A device in no manifest this owner imported.
        let stranger = try fixture.factoryIdentity("L2-000001")
        before = try await counts()
        let unknown = try fixture.request("unknown", serial: "L2-000001", authKey: stranger.key)
        try await fixture.expectRefused(
            try fixture.post("simpleenroll", unknown, certificate: stranger.certificate, key: stranger.key),
            status: 403, rule: "manifest", device: nil, issuedBefore: before.issued, refusedBefore: before.refused)

        // A request for another device's subject.
        before = try await counts()
        let other = try fixture.request("other", serial: "L1-000004", authKey: three.key)
        try await fixture.expectRefused(
            try fixture.post("simpleenroll", other, certificate: three.certificate, key: three.key), status: 403,
            rule: "subject", device: "L1-000003", issuedBefore: before.issued, refusedBefore: before.refused)

        // A request reusing the factory identity's key.
        before = try await counts()
        let reused = try fixture.request("reused", serial: "L1-000003", authKey: three.key, keyIn: three.key)
        try await fixture.expectRefused(
            try fixture.post("simpleenroll", reused, certificate: three.certificate, key: three.key), status: 403,
            rule: "key-reuse", device: "L1-000003", issuedBefore: before.issued, refusedBefore: before.refused)

        // A request with no binding to the TLS identity, and one bound by another key.
        before = try await counts()
        let unbound = try fixture.request("unbound", serial: "L1-000003", authKey: three.key, binding: false)
        try await fixture.expectRefused(
            try fixture.post("simpleenroll", unbound, certificate: three.certificate, key: three.key), status: 403,
            rule: "binding", device: "L1-000003", issuedBefore: before.issued, refusedBefore: before.refused)

        // A body that is not a request.
        before = try await counts()
        try "not base64 at all!".write(toFile: fixture.eco.file("garbage.b64"), atomically: true, encoding: .utf8)
        try await fixture.expectRefused(
            try fixture.post(
                "simpleenroll", fixture.eco.file("garbage.b64"), certificate: three.certificate, key: three.key),
            status: 400, rule: "request", device: "L1-000003", issuedBefore: before.issued,
            refusedBefore: before.refused)

        // A re-enrollment presenting a factory identity.
        before = try await counts()
        try await fixture.expectRefused(
            try fixture.post("simplereenroll", anonymous, certificate: three.certificate, key: three.key),
            status: 403, rule: "identity", device: "L1-000003", issuedBefore: before.issued,
            refusedBefore: before.refused)
        #expect(try await fixture.state("L1-000003") == .shipped)

        // A clone: a second first-enrollment of an enrolled identity, with another key, suspends the device.
        let one = try fixture.factoryIdentity("L1-000001")
        let genuine = try fixture.request("genuine", serial: "L1-000001", authKey: one.key)
        #expect(try fixture.post("simpleenroll", genuine, certificate: one.certificate, key: one.key).status == 200)
        before = try await counts()
        let clone = try fixture.request("clone", serial: "L1-000001", authKey: one.key)
        try await fixture.expectRefused(
            try fixture.post("simpleenroll", clone, certificate: one.certificate, key: one.key), status: 403,
            rule: "clone", device: "L1-000001", issuedBefore: before.issued, refusedBefore: before.refused)
        #expect(try await fixture.state("L1-000001") == .suspended)
        let alerts = try await fixture.registry.events(subject: nil, limit: nil).filter { $0.action == .cloneSuspected }
        #expect(alerts.count == 1 && alerts.first?.detail["peer"] == "127.0.0.1")

        // An expired LDevID: the operator shortens the profile to 65 s (60 of them backdated), and waits.
        try fixture.editPolicy { policy in
            var profiles = policy["profiles"] as! [String: Any]
            var ldevid = profiles["ldevid"] as! [String: Any]
            ldevid["validitySeconds"] = 65
            profiles["ldevid"] = ldevid
            policy["profiles"] = profiles
        }
        let short = try fixture.request("short", serial: "L1-000003", authKey: three.key)
        let shortLived = try fixture.post("simpleenroll", short, certificate: three.certificate, key: three.key)
        #expect(shortLived.status == 200, "\(shortLived.body)")
        let expiring = try fixture.certificate(of: shortLived, as: "expiring")
        try await Task.sleep(for: .seconds(7))
        before = try await counts()
        let late = try fixture.request(
            "late", serial: "L1-000003", authKey: fixture.eco.file("short.key"), newKey: fixture.eco.file("late.key"))
        try await fixture.expectRefused(
            try fixture.post("simplereenroll", late, certificate: expiring, key: fixture.eco.file("short.key")),
            status: 403, rule: "expired", device: "L1-000003", issuedBefore: before.issued,
            refusedBefore: before.refused)
    }

    @Test("approval mode: 202 with Retry-After until `fleetkey device commission`, then the certificate")
    func approval() async throws {
        let fixture = try Fixture()
        try fixture.editPolicy { policy in
            var enrollment = policy["enrollment"] as! [String: Any]
            enrollment["requireApproval"] = true
            enrollment["retryAfterSeconds"] = 5
            policy["enrollment"] = enrollment
        }
        let four = try fixture.factoryIdentity("L1-000004")
        let request = try fixture.request("pending", serial: "L1-000004", authKey: four.key)
        let pending = try fixture.post("simpleenroll", request, certificate: four.certificate, key: four.key)
        #expect(pending.status == 202, "\(pending.body)")
        #expect(pending.headers.lowercased().contains("retry-after: 5"))
        #expect(try await fixture.state("L1-000004") == .shipped)
        let events = try await fixture.registry.events(subject: nil, limit: nil)
        #expect(events.contains { $0.action == .enrollmentPending })

        expectSuccess(try fixture.eco.fleetkey(["device", "commission", "L1-000004", "--dir", fixture.owner]))
        #expect(try await fixture.state("L1-000004") == .commissioned)
        let issued = try fixture.post("simpleenroll", request, certificate: four.certificate, key: four.key)
        #expect(issued.status == 200, "\(issued.body)")
        try fixture.expectVerifies(try fixture.certificate(of: issued, as: "approved"))
        #expect(try await fixture.state("L1-000004") == .active)
    }
}

@Suite("fleetkey simulate: a fleet through EST with the device SDK", .serialized)
struct SimulateTests {
    /// The registry's view after a run: every device active, with exactly one valid LDevID.
    static func expectFleetEnrolled(_ owner: String, lot: String, count: Int) async throws {
        let registry = try SQLiteRegistry(path: "\(owner)/registry.sqlite")
        let devices = try await registry.devices(matching: DeviceFilter(lot: lot))
        #expect(devices.count == count)
        #expect(devices.allSatisfy { $0.state == .active }, "\(Set(devices.map(\.state)))")
        var valid: [Int: Int] = [:]
        for device in devices {
            let ldevids = try await registry.certificates(forDevice: device.id)
                .filter { $0.issuer == Ecosystem.domainCAID && $0.status == .valid }
            valid[ldevids.count, default: 0] += 1
        }
        #expect(valid == [1: count], "devices by number of valid LDevIDs: \(valid)")
    }

    /// Every LDevID a device holds in its element is recorded in the owner's registry, valid.
    static func expectHeldCertificatesRecorded(_ eco: CLIEcosystem, owner: String, lot: String) async throws {
        let registry = try SQLiteRegistry(path: "\(owner)/registry.sqlite")
        let elements = URL(fileURLWithPath: "\(eco.dir)/elements/vendor-acme")
        var checked = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: elements.path) where file.contains(".\(lot)-") {
            let state =
                try JSONSerialization.jsonObject(with: Data(contentsOf: elements.appendingPathComponent(file)))
                as! [String: Any]
            let slot = (state["slots"] as! [[String: Any]])[1]
            let der = try #require(Data(base64Encoded: slot["certificate"] as? String ?? ""), "\(file) holds no LDevID")
            let text = try Tools.run("openssl", ["x509", "-inform", "DER", "-noout", "-serial"], stdin: der).stdout
            let serial = text.replacingOccurrences(of: "serial=", with: "").trimmingCharacters(
                in: .whitespacesAndNewlines)
            let record = try await registry.certificate(issuer: Ecosystem.domainCAID, serial: serial)
            #expect(record?.der == Array(der), "\(file): the LDevID it holds is not in the registry")
            #expect(record?.status == .valid)
            checked += 1
        }
        #expect(checked > 0)
    }

    @Test("300 devices at concurrency 64 enroll and re-enroll with zero errors; each ends active with one LDevID")
    func fleet() async throws {
        let fixture = try ESTEnrollmentTests.Fixture()
        let result = try fixture.eco.fleetkey([
            "simulate", "--devices", "300", "--concurrency", "64", "--server",
            "https://127.0.0.1:\(fixture.estPort)", "--owner", fixture.owner, "--server-trust",
            fixture.eco.file("tls-ca.pem"), "--lot", "SIM1", "--json",
        ])
        #expect(result.status == 0, "\(result.output.suffix(2000))")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        #expect(report["errors"] as? [String: Int] == [:])
        #expect(report["operations"] as? Int == 600)
        let enroll = report["enroll"] as! [String: Any]
        #expect((enroll["p99Milliseconds"] as! Double) >= (enroll["p50Milliseconds"] as! Double))
        try await Self.expectFleetEnrolled(fixture.owner, lot: "SIM1", count: 300)
        try await Self.expectHeldCertificatesRecorded(fixture.eco, owner: fixture.owner, lot: "SIM1")
    }

    @Test("the server SIGKILLed mid-run and restarted: the devices finish on their retries, every certificate recorded")
    func serverKilled() async throws {
        let fixture = try ESTEnrollmentTests.Fixture()
        let log = fixture.eco.file("simulate.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let simulate = Process()
        simulate.executableURL = URL(fileURLWithPath: Tools.fleetkey)
        simulate.arguments = [
            "simulate", "--devices", "400", "--concurrency", "32", "--server", "https://127.0.0.1:\(fixture.estPort)",
            "--owner", fixture.owner, "--server-trust", fixture.eco.file("tls-ca.pem"), "--lot", "SIM2",
            "--retry-cap", "1", "--json",
        ]
        simulate.environment = ProcessInfo.processInfo.environment.merging(fixture.eco.environment) { $1 }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        simulate.standardOutput = handle
        simulate.standardError = FileHandle.nullDevice
        try simulate.run()
        // Wait until enrollments are under way, then kill the server in the middle of them.
        let registry = try fixture.registry
        var issued = 0
        for _ in 0..<600 where issued < 40 {
            try await Task.sleep(for: .milliseconds(100))
            issued = try await registry.certificateCount(issuer: Ecosystem.domainCAID)
        }
        #expect(issued >= 40, "no enrollment started")
        fixture.ownerServer?.kill()
        try await Task.sleep(for: .seconds(2))
        try fixture.startOwnerServer()
        while simulate.isRunning { try await Task.sleep(for: .milliseconds(200)) }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(simulate.terminationStatus == 0, "\(output.suffix(2000))")
        let report = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
        #expect(report["errors"] as? [String: Int] == [:])
        #expect(!(report["retriedErrors"] as? [String: Int] ?? [:]).isEmpty, "the kill went unnoticed")
        try await Self.expectFleetEnrolled(fixture.owner, lot: "SIM2", count: 400)
        try await Self.expectHeldCertificatesRecorded(fixture.eco, owner: fixture.owner, lot: "SIM2")
    }
}
