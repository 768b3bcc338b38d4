import FleetkeyCore
import Foundation
import SwiftASN1
import Testing

/// Deny lists through the CLI, with their signature checked by openssl over the exact to-be-signed bytes.
@Suite("Deny lists through the CLI")
struct DenyListCLITests {
    struct Listed: Decodable {
        struct Entry: Decodable {
            var device: String
            var reason: String
        }
        var number: Int64
        var baseNumber: Int64?
        var signatureValid: Bool
        var entries: [Entry]
    }

    @Test("a full list and a delta, signed by the vendor CA: openssl verifies the signature, a changed byte fails")
    func publishAndVerify() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        for serial in ["DL-1", "DL-2", "DL-3"] {
            let csr = try eco.opensslRequest(name: serial, subject: "/O=Acme/serialNumber=\(serial)")
            expectSuccess(
                try eco.fleetkey(["issue", "--vendor", "Acme", "--csr", csr, "--out", eco.file("\(serial).pem")]))
        }
        expectSuccess(try eco.fleetkey(["revoke", "--device", "DL-1", "--reason", "keyCompromise"]))
        let first = try eco.fleetkey(["denylist", "publish", "--vendor", "Acme", "--json"])
        expectSuccess(first)
        let full = try JSONDecoder().decode(Listed.self, from: Data(first.stdout.utf8))
        #expect(full.entries.map(\.device) == ["DL-1"] && full.baseNumber == nil)

        expectSuccess(try eco.fleetkey(["revoke", "--device", "DL-3", "--reason", "superseded"]))
        let deltaFile = eco.file("delta.dl")
        expectSuccess(
            try eco.fleetkey([
                "denylist", "publish", "--vendor", "Acme", "--since", "\(full.number)", "--out", deltaFile,
            ]))
        let shown = try eco.fleetkey(["denylist", "show", deltaFile, "--issuer", eco.vendorPEM("acme"), "--json"])
        expectSuccess(shown)
        let delta = try JSONDecoder().decode(Listed.self, from: Data(shown.stdout.utf8))
        #expect(delta.entries.map(\.device) == ["DL-3"] && delta.entries[0].reason == "superseded")
        #expect(delta.baseNumber == full.number && delta.number > full.number && delta.signatureValid)

        // openssl checks the ECDSA signature over the to-be-signed bytes with the vendor CA's public key.
        let list = try DenyList(derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: deltaFile))))
        try Data(list.tbsBytes).write(to: URL(fileURLWithPath: eco.file("tbs.der")))
        try Data(list.signatureValue).write(to: URL(fileURLWithPath: eco.file("sig.der")))
        let key = try Tools.run("openssl", ["x509", "-in", eco.vendorPEM("acme"), "-noout", "-pubkey"])
        try Data(key.stdout.utf8).write(to: URL(fileURLWithPath: eco.file("acme-pub.pem")))
        let verified = try Tools.run(
            "openssl",
            [
                "dgst", "-sha256", "-verify", eco.file("acme-pub.pem"), "-signature", eco.file("sig.der"),
                eco.file("tbs.der"),
            ])
        #expect(verified.status == 0 && verified.stdout.contains("Verified OK"), "\(verified.output)")
        expectSuccess(try Tools.run("openssl", ["asn1parse", "-inform", "DER", "-in", deltaFile]))

        // One byte changed: refused, and said so.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: deltaFile)))
        let at = try #require((0..<(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == Array("DL-3".utf8) })
        bytes[at + 3] = UInt8(ascii: "2")
        try Data(bytes).write(to: URL(fileURLWithPath: eco.file("tampered.dl")))
        let refused = try eco.fleetkey(["denylist", "show", eco.file("tampered.dl"), "--issuer", eco.vendorPEM("acme")])
        #expect(refused.status == 1 && refused.stderr.contains("error [status-not-verified]"), "\(refused.output)")
    }

    @Test("show checks the signature first: an altered list, or one checked against another CA, prints nothing")
    func verifiedBeforePrinted() throws {
        let eco = try CLIEcosystem(vendors: ["Acme", "Globex"])
        let csr = try eco.opensslRequest(name: "dev", subject: "/O=Acme/serialNumber=DL-SHOWN")
        expectSuccess(try eco.fleetkey(["issue", "--vendor", "Acme", "--csr", csr, "--out", eco.file("dev.pem")]))
        expectSuccess(try eco.fleetkey(["revoke", "--device", "DL-SHOWN", "--reason", "keyCompromise"]))
        let listFile = eco.file("acme.dl")
        expectSuccess(try eco.fleetkey(["denylist", "publish", "--vendor", "Acme", "--out", listFile]))
        let good = try eco.fleetkey(["denylist", "show", listFile, "--issuer", eco.vendorPEM("acme")])
        expectSuccess(good)
        #expect(good.stdout.contains("DL-SHOWN"), "\(good.output)")

        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: listFile)))
        let at = try #require((0..<(bytes.count - 8)).first { Array(bytes[$0..<($0 + 8)]) == Array("DL-SHOWN".utf8) })
        bytes[at + 3] = UInt8(ascii: "X")
        try Data(bytes).write(to: URL(fileURLWithPath: eco.file("altered.dl")))
        for (file, issuer) in [(eco.file("altered.dl"), eco.vendorPEM("acme")), (listFile, eco.vendorPEM("globex"))] {
            for format in [[], ["--json"]] {
                let refused = try eco.fleetkey(["denylist", "show", file, "--issuer", issuer] + format)
                #expect(refused.status == 1, "\(refused.output)")
                #expect(refused.stderr.contains("error [status-not-verified]"), "\(refused.stderr)")
                #expect(refused.stdout.isEmpty, "printed before the signature was checked: \(refused.stdout)")
                #expect(!refused.output.contains("DL-SHOWN") && !refused.output.contains("DL-XHOWN"))
            }
        }
    }
}
