import Foundation
import Testing

@Suite("The fleetkey command line")
struct CLITests {
    @Test("the demo builds an ecosystem from nothing and prints an openssl command that verifies")
    func demo() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetkey-demo-it-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let result = try Tools.run(Tools.fleetkey, ["demo", "--dir", parent.path, "--devices", "2"])
        expectSuccess(result)
        let command = try #require(result.stdout.split(separator: "\n").first { $0.contains("openssl verify") })
        let words = command.split(separator: " ").map(String.init)
        #expect(FileManager.default.fileExists(atPath: words.last!))
        let verify = try Tools.run("openssl", Array(words.dropFirst()))
        #expect(verify.status == 0, "\(verify.output)")

        let listing = try Tools.run(Tools.fleetkey, ["device", "list", "--dir", parent.path, "--json"])
        let devices = try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [[String: Any]]
        // Two simulated devices per vendor, and a factory lot of two in Acme Sensors' emulated secure elements.
        #expect(devices?.count == 6)
        #expect(devices?.allSatisfy { $0["state"] as? String == "provisioned" } == true)
        #expect(devices?.filter { $0["attested"] as? Bool == true }.count == 2)
        let manifestCommand = try #require(
            result.stdout.split(separator: "\n").first { $0.contains("openssl cms -verify") })
        let manifestCheck = try Tools.run(
            "openssl", Array(manifestCommand.split(separator: " ").map(String.init).dropFirst()))
        #expect(manifestCheck.status == 0, "\(manifestCheck.output)")
    }

    @Test("inspection commands read the registry, as text and as JSON")
    func inspection() throws {
        let eco = try CLIEcosystem()
        let csr = try eco.opensslRequest(name: "dev", subject: "/O=Acme/serialNumber=SN-42")
        let issued = try eco.fleetkey(["issue", "--vendor", "Acme", "--csr", csr, "--lot", "LOT-7", "--json"])
        expectSuccess(issued)
        let serial = try #require(
            (try JSONSerialization.jsonObject(with: Data(issued.stdout.utf8)) as? [String: Any])?["serial"] as? String)

        let bySerial = try eco.fleetkey(["cert", "show", serial, "--json"])
        expectSuccess(bySerial)
        let summary = try JSONSerialization.jsonObject(with: Data(bySerial.stdout.utf8)) as? [String: Any]
        #expect((summary?["registry"] as? [String: Any])?["device"] as? String == "Acme/SN-42")

        let device = try eco.fleetkey(["device", "show", "SN-42", "--json"])
        expectSuccess(device)
        let detail = try JSONSerialization.jsonObject(with: Data(device.stdout.utf8)) as? [String: Any]
        #expect((detail?["device"] as? [String: Any])?["lot"] as? String == "LOT-7")
        let actions = (detail?["events"] as? [[String: String]])?.map { $0["action"] ?? "" }
        #expect(actions == ["device.registered", "device.provisioned"])

        let vendors = try eco.fleetkey(["vendor", "list", "--json"])
        let names = (try JSONSerialization.jsonObject(with: Data(vendors.stdout.utf8)) as? [[String: Any]])?.map {
            $0["name"] as? String
        }
        #expect(names == ["Acme", "Globex"])

        let pem = try eco.fleetkey(["ca", "cert", "--vendor", "Globex"])
        #expect(pem.stdout.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let fromFile = try eco.fleetkey(["cert", "show", eco.rootPEM])
        #expect(fromFile.stdout.contains("Root CA"))
        #expect(fromFile.stdout.contains("Registry:       valid"))
    }

    @Test("every command has --help")
    func help() throws {
        for command in [
            [], ["init"], ["vendor", "add"], ["vendor", "list"], ["ca", "cert"], ["issue"], ["cert", "show"],
            ["device", "list"], ["device", "show"], ["demo"], ["factory", "provision"], ["manifest", "export"],
            ["manifest", "import"], ["owner", "init"], ["owner", "add"], ["owner", "list"], ["lot", "show"],
            ["denylist", "publish"], ["denylist", "show"], ["crl", "publish"], ["revoke"], ["serve"],
        ] {
            let result = try Tools.run(Tools.fleetkey, command + ["--help"])
            #expect(result.status == 0)
            #expect(result.stdout.contains("USAGE"))
        }
    }
}
