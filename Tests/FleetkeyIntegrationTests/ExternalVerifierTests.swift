import Crypto
import FleetkeyCore
import FleetkeyCustody
import Foundation
import SwiftASN1
import Testing
import X509

/// What `fleetkey` issues, checked by tools that share no code with it: openssl, gnutls certtool, pkilint.
@Suite("Independent verifiers accept what fleetkey issues")
struct ExternalVerifierTests {
    @Test(
        "a certificate issued from an `openssl req` request verifies with openssl and certtool, and pkilint is silent")
    func opensslRequestEndToEnd() throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "dev1", subject: "/O=Acme/serialNumber=SN-0001/CN=thermostat")
        let pem = eco.file("dev1.pem")
        expectSuccess(
            try eco.fleetkey(["issue", "--vendor", "Acme", "--csr", csr, "--hw-serial", "SE-0001", "--out", pem]))

        let verify = try Tools.run(
            "openssl", ["verify", "-CAfile", eco.rootPEM, "-untrusted", eco.vendorPEM("acme"), pem])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.stdout.contains(": OK"))

        let chain = eco.file("chain.pem")
        try
            (String(contentsOfFile: pem, encoding: .utf8)
            + String(contentsOfFile: eco.vendorPEM("acme"), encoding: .utf8))
            .write(toFile: chain, atomically: true, encoding: .utf8)
        let certtool = try Tools.run("certtool", ["--verify", "--load-ca-certificate", eco.rootPEM, "--infile", chain])
        #expect(certtool.status == 0, "\(certtool.output)")
        #expect(certtool.output.contains("Verified"))

        for certificate in [
            pem, eco.rootPEM, eco.vendorPEM("acme"), "\(eco.dir)/certs/vendor-acme-ocsp.pem",
            "\(eco.dir)/certs/vendor-acme-manifest-signer.pem",
        ] {
            let lint = try Tools.run("\(Tools.verifierBin)/lint_pkix_cert", ["lint", "-s", "WARNING", certificate])
            #expect(lint.status == 0, "pkilint findings for \(certificate): \(lint.output)")
        }
    }

    @Test("a DER request works as well as PEM, and the hardwareModuleName survives into the certificate")
    func derRequest() throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "dev2", subject: "/O=Globex/serialNumber=GX-2", der: true)
        let result = try eco.fleetkey(["issue", "--vendor", "Globex", "--csr", csr, "--hw-serial", "SE-GX-2", "--json"])
        expectSuccess(result)
        let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect((summary?["hardwareModuleName"] as? [String: String])?["hwSerialNum"] == "SE-GX-2")
        #expect((summary?["registry"] as? [String: Any])?["status"] as? String == "valid")
        let text = try Tools.run(
            "openssl", ["x509", "-noout", "-text"], stdin: Data((summary?["pem"] as? String ?? "").utf8))
        #expect(text.stdout.contains("1.3.6.1.5.5.7.8.4"))
    }

    @Test("openssl enforces a vendor CA's name constraints: its key signing another vendor's O= fails verification")
    func nameConstraintsHonouredByOpenSSL() async throws {
        let eco = try CLIEcosystem()
        // Take Acme's CA key straight from the keystore, bypassing every Fleetkey check, as an attacker who stole it would.
        let keystore = try SoftwareKeystore(
            directory: URL(fileURLWithPath: "\(eco.dir)/keys"), passphrase: Passphrase(CLIEcosystem.passphrase),
            cost: ScryptCost(log2N: 14))
        let acmeKey = try await keystore.signingKey("keystore:vendor-acme")
        let acmeCA = try Certificate(pemEncoded: String(contentsOfFile: eco.vendorPEM("acme"), encoding: .utf8))

        func forge(organization: String, file: String) throws {
            let deviceKey = P256.Signing.PrivateKey()
            let subject = try DistinguishedName {
                OrganizationName(organization)
                CommonName("forged")
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(deviceKey.publicKey),
                notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
                issuer: acmeCA.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    AuthorityKeyIdentifier(keyIdentifier: try acmeCA.extensions.subjectKeyIdentifier!.keyIdentifier)
                }, issuerPrivateKey: acmeKey)
            try certificate.pemString().write(toFile: file, atomically: true, encoding: .utf8)
        }

        try forge(organization: "Acme", file: eco.file("inside.pem"))
        try forge(organization: "Globex", file: eco.file("outside.pem"))
        let inside = try Tools.run(
            "openssl", ["verify", "-CAfile", eco.rootPEM, "-untrusted", eco.vendorPEM("acme"), eco.file("inside.pem")])
        #expect(inside.status == 0, "control: a subject inside O=Acme verifies: \(inside.output)")
        let outside = try Tools.run(
            "openssl", ["verify", "-CAfile", eco.rootPEM, "-untrusted", eco.vendorPEM("acme"), eco.file("outside.pem")])
        #expect(outside.status != 0)
        #expect(outside.output.contains("permitted subtree violation"), "\(outside.output)")
    }

    @Test("the data directory holds no unencrypted private key")
    func noPlaintextKeys() async throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "dev3", subject: "/O=Acme/serialNumber=SN-3")
        expectSuccess(try eco.fleetkey(["issue", "--vendor", "Acme", "--csr", csr]))

        let keystore = try SoftwareKeystore(
            directory: URL(fileURLWithPath: "\(eco.dir)/keys"), passphrase: Passphrase(CLIEcosystem.passphrase),
            cost: ScryptCost(log2N: 14))
        let keyFiles = try FileManager.default.contentsOfDirectory(atPath: "\(eco.dir)/keys").filter {
            $0.hasSuffix(".key.json")
        }
        #expect(keyFiles.count == 7)  // root, and per vendor: CA, OCSP responder, manifest signer
        var secrets: [Data] = []
        for file in keyFiles {
            let label = String(file.dropLast(".key.json".count))
            let der = try await keystore.signingKey("keystore:\(label)").serializeAsPEM().derBytes
            secrets.append(Data(der))
            secrets.append(Data(Data(der).base64EncodedString().utf8))
            secrets.append(try #require(Self.privateScalar(der), "the private scalar of \(label)"))
        }
        let enumerator = FileManager.default.enumerator(atPath: eco.dir)!
        var scanned = 0
        while let relative = enumerator.nextObject() as? String {
            let path = "\(eco.dir)/\(relative)"
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                continue
            }
            let contents = try Data(contentsOf: URL(fileURLWithPath: path))
            scanned += 1
            #expect(contents.range(of: Data("PRIVATE KEY".utf8)) == nil, "\(relative) holds a PEM private key")
            for secret in secrets {
                #expect(contents.range(of: secret) == nil, "\(relative) holds private key bytes")
            }
        }
        #expect(scanned >= 10)
    }

    /// The private scalar inside a PKCS#8-wrapped SEC1 EC key (RFC 5915: `version 1, privateKey OCTET STRING`).
    static func privateScalar(_ der: [UInt8]) -> Data? {
        let marker: [UInt8] = [0x02, 0x01, 0x01, 0x04]
        guard let start = (0..<(der.count - marker.count)).first(where: { Array(der[$0..<($0 + 4)]) == marker }) else {
            return nil
        }
        let length = Int(der[start + 4])
        return Data(der[(start + 5)..<(start + 5 + length)])
    }
}
