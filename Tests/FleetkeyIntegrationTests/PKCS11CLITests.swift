import Crypto
import FleetkeyCore
import FleetkeyCustody
import FleetkeySQLite
import Foundation
import Testing
import X509

/// Root and vendor CA keys inside a real SoftHSM2 token, driven through the `fleetkey` binary and checked by
/// independent tools: openssl verifies what they sign, python-pkcs11 asks the token about the keys.
@Suite("CA keys in a PKCS#11 token (SoftHSM2)")
struct PKCS11CLITests {
    static let passphrase = "integration test passphrase"

    /// An ecosystem whose root key is in token `fleet-root` and Acme's CA key in token `fleet-vendors`; Globex
    /// keeps its CA key in the software keystore.
    final class TokenEcosystem {
        let hsm: SoftHSMTokens
        let root: URL
        var dir: String { root.appendingPathComponent("eco").path }
        let rootKey: String
        let vendorKey: String
        var initOutput: CommandResult!
        var vendorOutput: CommandResult!

        init() throws {
            hsm = try SoftHSMTokens(labels: ["fleet-root", "fleet-vendors"])
            root = FileManager.default.temporaryDirectory.appendingPathComponent("fleetkey-it-p11-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            rootKey = hsm.uri(token: "fleet-root", object: "root")
            vendorKey = hsm.uri(token: "fleet-vendors", object: "acme-ca")
            initOutput = try fleetkey([
                "init", "--name", "Token Ecosystem", "--kdf-log2n", "14", "--key", rootKey, "--json",
            ])
            expectSuccess(initOutput)
            vendorOutput = try fleetkey(["vendor", "add", "Acme", "--key", vendorKey, "--json"])
            expectSuccess(vendorOutput)
            expectSuccess(try fleetkey(["vendor", "add", "Globex"]))
        }

        deinit { try? FileManager.default.removeItem(at: root) }

        var environment: [String: String] {
            hsm.environment.merging(["FLEETKEY_PASSPHRASE": PKCS11CLITests.passphrase, "FLEETKEY_DIR": dir]) { $1 }
        }

        @discardableResult
        func fleetkey(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CommandResult {
            try Tools.run(Tools.fleetkey, arguments, environment: environment.merging(extra) { $1 })
        }

        func file(_ name: String) -> String { root.appendingPathComponent(name).path }

        /// Issues a device certificate for a fresh `openssl req` key; returns the certificate's path.
        func issue(vendor: String, serial: String, expectOK: Bool = true, environment extra: [String: String] = [:])
            throws
            -> (path: String, result: CommandResult)
        {
            let csr = file("\(serial).csr")
            expectSuccess(
                try Tools.run(
                    "openssl",
                    [
                        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        file("\(serial).key"), "-subj", "/O=\(vendor)/serialNumber=\(serial)", "-out", csr,
                    ]))
            let out = file("\(serial).pem")
            let result = try fleetkey(["issue", "--vendor", vendor, "--csr", csr, "--out", out], environment: extra)
            if expectOK { expectSuccess(result) }
            return (out, result)
        }

        func counts() async throws -> [Int] {
            let registry = try SQLiteRegistry(path: "\(dir)/registry.sqlite")
            return [
                try await registry.certificateCount(issuer: nil),
                try await registry.events(subject: nil, limit: nil).count,
            ]
        }
    }

    @Test("certificates issued under token-held root and vendor CA keys verify with openssl")
    func opensslVerifies() async throws {
        let eco = try TokenEcosystem()
        let summary = try JSONSerialization.jsonObject(with: Data(eco.initOutput.stdout.utf8)) as? [String: Any]
        let recordedRoot = try #require(summary?["rootKey"] as? String)
        #expect(recordedRoot.hasPrefix("pkcs11:token=fleet-root;object=root;id=%"))
        #expect(recordedRoot.hasSuffix(";type=private?module-path=\(SoftHSMTokens.modulePath)"))

        let rootPEM = "\(eco.dir)/certs/root.pem"
        let acmePEM = "\(eco.dir)/certs/vendor-acme.pem"
        let selfSigned = try Tools.run("openssl", ["verify", "-CAfile", rootPEM, rootPEM])
        #expect(selfSigned.status == 0, "\(selfSigned.output)")
        let vendor = try Tools.run("openssl", ["verify", "-CAfile", rootPEM, acmePEM])
        #expect(vendor.status == 0, "\(vendor.output)")
        let text = try Tools.run("openssl", ["x509", "-in", rootPEM, "-noout", "-text"])
        #expect(text.stdout.contains("ecdsa-with-SHA384"))

        for (vendorName, slug, serial) in [("Acme", "acme", "SN-TOKEN-1"), ("Globex", "globex", "SN-SOFT-1")] {
            let (device, _) = try eco.issue(vendor: vendorName, serial: serial)
            let verify = try Tools.run(
                "openssl", ["verify", "-CAfile", rootPEM, "-untrusted", "\(eco.dir)/certs/vendor-\(slug).pem", device])
            #expect(verify.status == 0, "\(verify.output)")
            #expect(verify.stdout.contains(": OK"))
        }
        // The OCSP responder certificate, signed by the token-held Acme CA key, verifies too.
        let responder = try Tools.run(
            "openssl", ["verify", "-CAfile", rootPEM, "-untrusted", acmePEM, "\(eco.dir)/certs/vendor-acme-ocsp.pem"])
        #expect(responder.status == 0, "\(responder.output)")

        // The registry records where each key lives: the CA keys in the token, the rest in the keystore.
        let rows = try Tools.run(
            "sqlite3",
            [
                "\(eco.dir)/registry.sqlite",
                "SELECT a.id, k.custody, k.location FROM authorities a JOIN keys k ON k.location = a.key_reference ORDER BY a.id",
            ])
        let lines = rows.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(rows.output)")
        #expect(lines.contains { $0.hasPrefix("root|pkcs11|pkcs11:token=fleet-root;object=root;") })
        #expect(lines.contains { $0.hasPrefix("vendor-acme|pkcs11|pkcs11:token=fleet-vendors;object=acme-ca;") })
        #expect(lines.contains { $0.hasPrefix("vendor-globex|software-keystore|keystore:") })
        let others = try Tools.run(
            "sqlite3", ["\(eco.dir)/registry.sqlite", "SELECT count(*) FROM keys WHERE custody = 'pkcs11'"])
        #expect(others.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
    }

    @Test("python-pkcs11 cannot read CKA_VALUE of the CA private keys, and CKA_NEVER_EXTRACTABLE is true")
    func independentClientCannotExtract() throws {
        let eco = try TokenEcosystem()
        let result = try eco.hsm.python(
            """
            import os, pkcs11
            from pkcs11 import Attribute as A, ObjectClass
            lib = pkcs11.lib(os.environ['P11_MODULE'])
            for token, label in [('fleet-root', 'root'), ('fleet-vendors', 'acme-ca')]:
                with lib.get_token(token_label=token).open(user_pin=os.environ['P11_PIN']) as s:
                    k = s.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
                    assert k[A.SENSITIVE] is True, 'sensitive'
                    assert k[A.EXTRACTABLE] is False, 'extractable'
                    assert k[A.NEVER_EXTRACTABLE] is True, 'never extractable'
                    assert k[A.ALWAYS_SENSITIVE] is True, 'always sensitive'
                    assert k[A.LOCAL] is True, 'local'
                    assert k[A.PRIVATE] is True, 'private'
                    try:
                        k[A.VALUE]
                        raise SystemExit('CKA_VALUE of %s was readable' % label)
                    except pkcs11.exceptions.AttributeSensitive:
                        print('AttributeSensitive', token, label)
            """)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("AttributeSensitive fleet-root root"))
        #expect(result.stdout.contains("AttributeSensitive fleet-vendors acme-ca"))
    }

    @Test("`fleetkey hsm check` proves custody of a token-born key and refuses an extractable one")
    func hsmCheck() throws {
        let eco = try TokenEcosystem()
        let report = try eco.fleetkey(["hsm", "check", "--key", eco.rootKey, "--json"])
        expectSuccess(report)
        let json = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any]
        #expect(json?["custodyProven"] as? Bool == true)
        #expect(json?["sensitive"] as? Bool == true)
        #expect(json?["extractable"] as? Bool == false)
        #expect(json?["neverExtractable"] as? Bool == true)
        #expect(json?["local"] as? Bool == true)
        #expect(json?["valueReadable"] as? Bool == false)
        #expect(json?["algorithm"] as? String == "ecdsa-p384")
        let text = try eco.fleetkey(["hsm", "check", "--key", eco.vendorKey])
        expectSuccess(text)
        #expect(text.stdout.contains("never-extractable  yes"))
        #expect(text.stdout.contains("Custody proven"))

        // A key made extractable and not sensitive by another client is reported, and the command fails.
        let weak = try eco.hsm.python(
            """
            import os, pkcs11
            from pkcs11 import Attribute as A, KeyType
            from pkcs11.util.ec import encode_named_curve_parameters
            lib = pkcs11.lib(os.environ['P11_MODULE'])
            with lib.get_token(token_label='fleet-vendors').open(user_pin=os.environ['P11_PIN'], rw=True) as s:
                params = s.create_domain_parameters(KeyType.EC, {A.EC_PARAMS: encode_named_curve_parameters('secp256r1')}, local=True)
                params.generate_keypair(store=True, label='weak', private_template={A.SENSITIVE: False, A.EXTRACTABLE: True})
            """)
        #expect(weak.status == 0, "\(weak.output)")
        let refused = try eco.fleetkey([
            "hsm", "check", "--key", eco.hsm.uri(token: "fleet-vendors", object: "weak"), "--json",
        ])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("error [custody-not-proven]"))
        let weakJSON = try JSONSerialization.jsonObject(with: Data(refused.stdout.utf8)) as? [String: Any]
        #expect(weakJSON?["custodyProven"] as? Bool == false)
        #expect(weakJSON?["valueReadable"] as? Bool == true)
    }

    @Test("a wrong PIN, a missing module and a missing token fail clearly, and nothing is written")
    func initFailures() throws {
        let hsm = try SoftHSMTokens(labels: ["fleet-root"])
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetkey-it-p11-fail-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let cases: [(key: String, pin: String, code: String, fragment: String)] = [
            (
                hsm.uri(token: "fleet-root", object: "root"), "wrong-pin-8812", "key-access-denied",
                "refused the PIN (CKR_PIN_INCORRECT)"
            ),
            (
                "pkcs11:token=fleet-root;object=root?module-path=/usr/lib/nowhere/libnothing.so", SoftHSMTokens.pin,
                "custody-unavailable", "does not exist"
            ),
            (
                hsm.uri(token: "no-such-token", object: "root"), SoftHSMTokens.pin, "custody-unavailable",
                "no PKCS#11 token matches token=no-such-token"
            ),
            (
                "pkcs11:token=fleet-root;object=root?module-path=\(SoftHSMTokens.modulePath)&pin-value=leaky-pin-2290",
                SoftHSMTokens.pin, "invalid-argument", "refuses pin-value"
            ),
        ]
        for (index, failure) in cases.enumerated() {
            let dir = parent.appendingPathComponent("eco-\(index)").path
            let result = try Tools.run(
                Tools.fleetkey, ["init", "--name", "Broken", "--dir", dir, "--kdf-log2n", "14", "--key", failure.key],
                environment: [
                    "SOFTHSM2_CONF": hsm.configuration, "FLEETKEY_PKCS11_PIN": failure.pin,
                    "FLEETKEY_PASSPHRASE": Self.passphrase,
                ])
            #expect(result.status == 1, "\(failure.key): \(result.output)")
            #expect(result.stderr.contains("error [\(failure.code)]"), "\(result.output)")
            #expect(result.stderr.contains(failure.fragment), "\(result.output)")
            #expect(!result.output.contains(failure.pin) && !result.output.contains("leaky-pin-2290"))
            #expect(!FileManager.default.fileExists(atPath: dir), "init wrote \(dir) although it failed")
        }
    }

    @Test("issuing with a wrong PIN or with the token gone signs nothing and records nothing")
    func issueFailures() async throws {
        let eco = try TokenEcosystem()
        _ = try eco.issue(vendor: "Acme", serial: "SN-OK")
        let before = try await eco.counts()

        let (wrongPath, wrong) = try eco.issue(
            vendor: "Acme", serial: "SN-WRONG-PIN", expectOK: false, environment: ["FLEETKEY_PKCS11_PIN": "0000-wrong"])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("error [key-access-denied]"), "\(wrong.output)")
        #expect(!wrong.output.contains("0000-wrong"))
        #expect(!FileManager.default.fileExists(atPath: wrongPath))

        let (noPINPath, noPIN) = try eco.issue(
            vendor: "Acme", serial: "SN-NO-PIN", expectOK: false, environment: ["FLEETKEY_PKCS11_PIN": ""])
        #expect(noPIN.status == 1)
        #expect(noPIN.stderr.contains("error [key-access-denied]"), "\(noPIN.output)")
        #expect(!FileManager.default.fileExists(atPath: noPINPath))

        // A vendor whose CA token is missing, or whose CA label is taken, is not admitted at all.
        for (key, code) in [
            (eco.hsm.uri(token: "no-such-token", object: "initech-ca"), "custody-unavailable"),
            (eco.vendorKey, "already-exists"),
        ] {
            let refused = try eco.fleetkey(["vendor", "add", "Initech", "--key", key])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("error [\(code)]"), "\(refused.output)")
        }
        let vendors = try eco.fleetkey(["vendor", "list", "--json"])
        #expect(!vendors.stdout.contains("Initech"))

        try eco.hsm.deleteToken("fleet-vendors")
        let (gonePath, gone) = try eco.issue(vendor: "Acme", serial: "SN-TOKEN-GONE", expectOK: false)
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("error [custody-unavailable]"), "\(gone.output)")
        #expect(gone.stderr.contains("token=fleet-vendors"), "\(gone.output)")
        #expect(!FileManager.default.fileExists(atPath: gonePath))
        #expect(try await eco.counts() == before)

        // The software-keystore vendor is unaffected.
        _ = try eco.issue(vendor: "Globex", serial: "SN-SOFT-OK")
    }

    @Test("only the modules fleetkey.json lists are loaded: a registry row naming another module signs nothing")
    func moduleAllowList() async throws {
        let eco = try TokenEcosystem()
        // init --key and vendor add --key recorded the module they were given, once.
        let configuration =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(eco.dir)/fleetkey.json"))) as? [String: Any]
        #expect(configuration?["pkcs11Modules"] as? [String] == [SoftHSMTokens.modulePath])

        // Someone who can write to the registry points Acme's CA key at another file: a copy of the module.
        let evil = eco.file("evil.so")
        // A copy of the file itself (Debian's /usr/lib/softhsm/libsofthsm2.so is a link to it).
        try FileManager.default.copyItem(
            atPath: URL(fileURLWithPath: SoftHSMTokens.modulePath).resolvingSymlinksInPath().path, toPath: evil)
        let registry = "\(eco.dir)/registry.sqlite"
        let rewrite = try Tools.run(
            "sqlite3",
            [
                registry,
                """
                UPDATE keys SET location = replace(location, '\(SoftHSMTokens.modulePath)', '\(evil)')
                    WHERE custody = 'pkcs11' AND location LIKE 'pkcs11:token=fleet-vendors;%';
                UPDATE authorities SET key_reference = replace(key_reference, '\(SoftHSMTokens.modulePath)', '\(evil)')
                    WHERE id = 'vendor-acme';
                """,
            ])
        expectSuccess(rewrite)
        let before = try await eco.counts()
        let csr = eco.file("SN-EVIL.csr")
        expectSuccess(
            try Tools.run(
                "openssl",
                [
                    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    eco.file("SN-EVIL.key"), "-subj", "/O=Acme/serialNumber=SN-EVIL", "-out", csr,
                ]))
        let trace = eco.file("evil.trace")
        let refused = try Tools.run(
            "strace",
            [
                "-f", "-qq", "-e", "trace=openat", "-o", trace, Tools.fleetkey, "issue", "--vendor", "Acme", "--csr",
                csr, "--out", eco.file("SN-EVIL.pem"),
            ],
            environment: eco.environment)
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.stderr.contains("error [custody-unavailable]"), "\(refused.stderr)")
        #expect(
            refused.stderr.contains("'\(evil)' is not in the list of modules Fleetkey may load"), "\(refused.stderr)")
        #expect(refused.stderr.contains("\"pkcs11Modules\" in \(eco.dir)/fleetkey.json"), "\(refused.stderr)")
        #expect(refused.stderr.contains("FLEETKEY_PKCS11_MODULES"), "\(refused.stderr)")
        #expect(!(try String(contentsOfFile: trace, encoding: .utf8)).contains(evil), "the unlisted module was opened")
        #expect(!FileManager.default.fileExists(atPath: eco.file("SN-EVIL.pem")))
        #expect(try await eco.counts() == before)

        // hsm check outside any ecosystem loads a module only if FLEETKEY_PKCS11_MODULES lists it.
        let outside = ["hsm", "check", "--key", eco.rootKey, "--dir", eco.file("no-ecosystem")]
        let unlisted = try eco.fleetkey(outside)
        #expect(unlisted.status == 1 && unlisted.stderr.contains("not in the list"), "\(unlisted.output)")
        let listed = try eco.fleetkey(
            outside, environment: ["FLEETKEY_PKCS11_MODULES": "/usr/lib/none.so:\(SoftHSMTokens.modulePath)"])
        expectSuccess(listed)
    }
}
