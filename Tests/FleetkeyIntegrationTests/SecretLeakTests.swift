import Crypto
import FleetkeyCore
import FleetkeyCustody
import Foundation
import SwiftASN1
import Testing
import X509

/// Runs a whole session of `fleetkey` (successes and failures, CA keys in a SoftHSM2 token and in the keystore),
/// captures every line it prints, and looks for every secret the run knew in every form it could leak in.
@Suite("No secret reaches the output")
struct SecretLeakTests {
    /// A secret and the encodings it could appear in: raw text, hex (both cases), base64.
    struct Secret {
        var name: String
        var forms: [String]

        init(name: String, text: String) {
            self.name = name
            self.forms = [text]
        }

        init(name: String, bytes: [UInt8]) {
            self.name = name
            let data = Data(bytes)
            self.forms = [
                Hex.lower(bytes), Hex.upper(bytes), data.base64EncodedString(),
                // A PEM body wraps base64 at 64 columns: any full line of it is a leak too.
                String(data.base64EncodedString().prefix(64)),
            ]
        }

        func found(in text: String) -> String? {
            forms.first { !$0.isEmpty && text.contains($0) }
        }
    }

    @Test("a full run prints no private key bytes, PINs or passphrases in any log line or error text")
    func fullRunLeaksNothing() async throws {
        let hsm = try SoftHSMTokens(labels: ["leak-root", "leak-vendor"])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetkey-it-leak-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("eco").path
        let passphrase = "leak-test passphrase 7f3a9c"
        let wrongPassphrase = "wrong passphrase 55e1b2"
        let wrongPIN = "wrong-pin-9d41"
        let uriPIN = "uri-pin-value-c0ffee"
        let pinFile = root.appendingPathComponent("pin")
        try Data((SoftHSMTokens.pin + "\n").utf8).write(to: pinFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: pinFile.path)

        let base = hsm.environment.merging(["FLEETKEY_PASSPHRASE": passphrase, "FLEETKEY_DIR": dir]) { $1 }
        let rootKey = hsm.uri(token: "leak-root", object: "root")
        // The vendor key's PIN comes from a pin-source file instead of the environment.
        let vendorKey =
            "pkcs11:token=leak-vendor;object=acme-ca?module-path=\(SoftHSMTokens.modulePath)&pin-source=file:\(pinFile.path)"
        var transcript = ""
        func run(_ arguments: [String], _ extra: [String: String] = [:], expect status: Int32? = 0) throws {
            let result = try Tools.run(Tools.fleetkey, arguments, environment: base.merging(extra) { $1 })
            // Only what fleetkey printed is scanned: the command lines themselves carry the PIN the test passes in a URI.
            transcript += "\(result.stdout)\(result.stderr)\n"
            if let status { #expect(result.status == status, "fleetkey \(arguments): \(result.output)") }
        }
        func request(_ serial: String, vendor: String) throws -> String {
            let csr = root.appendingPathComponent("\(serial).csr").path
            expectSuccess(
                try Tools.run(
                    "openssl",
                    [
                        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        root.appendingPathComponent("\(serial).key").path, "-subj",
                        "/O=\(vendor)/serialNumber=\(serial)", "-out", csr,
                    ]))
            return csr
        }

        try run(["init", "--name", "Leak Test", "--kdf-log2n", "14", "--key", rootKey])
        // The root key, which signs the new CA, still takes its PIN from the environment.
        try run(["vendor", "add", "Acme", "--key", vendorKey, "--json"])
        try run(["vendor", "add", "Globex"])
        try run(["vendor", "list"])
        try run(["vendor", "list", "--json"])
        try run(["ca", "cert", "--vendor", "Acme"])
        try run(["issue", "--vendor", "Acme", "--csr", try request("SN-L1", vendor: "Acme"), "--json"])
        try run(["issue", "--vendor", "Globex", "--csr", try request("SN-L2", vendor: "Globex")])
        try run(["cert", "show", "\(dir)/certs/root.pem"])
        try run(["device", "list", "--json"])
        try run(["device", "show", "SN-L1"])
        try run(["hsm", "check", "--key", rootKey])
        try run(["hsm", "check", "--key", vendorKey, "--json"], ["FLEETKEY_PKCS11_PIN": ""])
        // Failures: their error text must not carry the secrets either.
        // Acme's key reads its PIN from the pin-source file, so the environment's wrong PIN does not matter there...
        try run(
            ["issue", "--vendor", "Acme", "--csr", try request("SN-L3", vendor: "Acme")],
            ["FLEETKEY_PKCS11_PIN": wrongPIN])
        // ...but the root key needs it to admit a vendor.
        try run(["vendor", "add", "Initech"], ["FLEETKEY_PKCS11_PIN": wrongPIN], expect: 1)
        try run(
            ["issue", "--vendor", "Globex", "--csr", try request("SN-L4", vendor: "Globex")],
            ["FLEETKEY_PASSPHRASE": wrongPassphrase], expect: 1)
        try run(["hsm", "check", "--key", rootKey], ["FLEETKEY_PKCS11_PIN": wrongPIN], expect: 1)
        try run(["hsm", "check", "--key", rootKey + "&pin-value=\(uriPIN)"], expect: 1)
        try run(["vendor", "add", "Initech", "--key", rootKey], expect: 1)
        try run(
            [
                "init", "--name", "Again", "--dir", root.appendingPathComponent("again").path, "--key",
                rootKey + "&pin-value=\(uriPIN)",
            ], expect: 1)

        // Every secret the run knew.
        var secrets = [
            Secret(name: "PKCS#11 user PIN", text: SoftHSMTokens.pin),
            Secret(name: "PKCS#11 SO PIN", text: SoftHSMTokens.soPIN),
            Secret(name: "wrong PIN", text: wrongPIN), Secret(name: "PIN in a URI", text: uriPIN),
            Secret(name: "keystore passphrase", text: passphrase),
            Secret(name: "wrong passphrase", text: wrongPassphrase),
        ]
        let keystore = try SoftwareKeystore(
            directory: URL(fileURLWithPath: "\(dir)/keys"), passphrase: Passphrase(passphrase),
            cost: ScryptCost(log2N: 14))
        let keyFiles = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/keys").filter {
            $0.hasSuffix(".key.json")
        }
        #expect(keyFiles.count == 5, "Globex CA, and the OCSP and manifest keys of both vendors: \(keyFiles)")
        for file in keyFiles {
            let label = String(file.dropLast(".key.json".count))
            let key = try await keystore.signingKey("keystore:\(label)")
            let pkcs8 = try key.serializeAsPEM().derBytes
            secrets.append(Secret(name: "private key \(label) (PKCS#8)", bytes: pkcs8))
            if let p256 = try? P256.Signing.PrivateKey(derRepresentation: pkcs8) {
                secrets.append(Secret(name: "private key \(label) (scalar)", bytes: Array(p256.rawRepresentation)))
            }
        }
        // The finder finds what is there (so a clean result means something).
        #expect(secrets.allSatisfy { $0.found(in: "x \($0.forms[0]) y") != nil })

        let lines = transcript.split(separator: "\n")
        #expect(lines.count > 50, "the transcript is too short to mean anything: \(transcript)")
        for secret in secrets {
            for line in lines {
                if let form = secret.found(in: String(line)) {
                    Issue.record(
                        "the \(secret.name) appears in the output (as \(form.prefix(12))...): \(line.prefix(200))")
                }
            }
        }
        // Neither do the registry or the published files hold them.
        for path in ["\(dir)/registry.sqlite", "\(dir)/fleetkey.json", "\(dir)/policy.json"] {
            let bytes = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
            for secret in secrets where secret.found(in: bytes) != nil {
                Issue.record("the \(secret.name) appears in \(path)")
            }
        }
        #expect(transcript.contains("error [key-access-denied]"))
        #expect(transcript.contains("error [invalid-argument]"))
    }
}
