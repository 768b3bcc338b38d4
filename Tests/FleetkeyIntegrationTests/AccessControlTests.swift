import FleetkeyCore
import FleetkeySQLite
import Foundation
import Testing

/// Access control in an owner's registry, driven through the CLI and `POST /v1/authz` with curl as the gateway.
@Suite("Access control: groups, policies and decisions", .serialized)
struct AccessControlTests {
    typealias Fixture = ESTEnrollmentTests.Fixture

    /// Enrolls one device over EST with curl; its LDevID (PEM) and key.
    static func enrolled(_ fixture: Fixture, _ serial: String) throws -> (certificate: String, key: String) {
        let device = try fixture.factoryIdentity(serial)
        let request = try fixture.request("\(serial)-req", serial: serial, authKey: device.key)
        let answer = try fixture.post("simpleenroll", request, certificate: device.certificate, key: device.key)
        #expect(answer.status == 200, "\(answer.body)")
        return (try fixture.certificate(of: answer, as: "\(serial)-ldevid"), fixture.eco.file("\(serial)-req.key"))
    }

    struct Decision: Decodable {
        var decision: String
        var rule: String?
        var reason: String
        var device: String?
    }

    static func check(_ fixture: Fixture, _ subject: [String], action: String, resource: String) throws
        -> (status: Int32, decision: Decision?)
    {
        let result = try fixture.eco.fleetkey(
            ["authz", "check", "--dir", fixture.owner] + subject + [
                "--action", action, "--resource", resource, "--json",
            ])
        return (result.status, try? JSONDecoder().decode(Decision.self, from: Data(result.stdout.utf8)))
    }

    @Test("groups and a policy decide: allow by group and attribute, deny overrides, nothing by default")
    func decisions() async throws {
        let fixture = try Fixture()
        let eco = fixture.eco
        let owner = fixture.owner
        let device = try Self.enrolled(fixture, "L1-000001")

        expectSuccess(
            try eco.fleetkey([
                "group", "create", "--dir", owner, "sensors", "--attr", "site=berlin", "--attr", "tier=edge",
            ]))
        expectSuccess(try eco.fleetkey(["group", "add", "--dir", owner, "sensors", "--lot", "L1", "--vendor", "Acme"]))
        let listed = try eco.fleetkey(["group", "list", "--dir", owner, "--json"])
        #expect(listed.status == 0 && listed.stdout.contains("\"site\" : \"berlin\"") && listed.stdout.contains("L1"))
        let again = try eco.fleetkey(["group", "create", "--dir", owner, "sensors"])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
        let nobody = try eco.fleetkey(["group", "add", "--dir", owner, "sensors", "--serial", "NO-SUCH"])
        #expect(nobody.status != 0 && nobody.stderr.contains("no device 'NO-SUCH'"))

        // Nothing is allowed before a policy is loaded.
        let before = try Self.check(
            fixture, ["--cert", device.certificate], action: "publish", resource: "telemetry/t1")
        #expect(before.status == 1 && before.decision?.decision == "deny", "\(String(describing: before.decision))")

        let policy = eco.file("policy.json")
        try """
        {"version": 1, "rules": [
          {"id": "berlin-publish", "effect": "allow", "actions": ["publish"], "resources": ["telemetry/*"],
           "groups": ["sensors"], "attributes": {"site": "berlin"}},
          {"id": "no-secrets", "effect": "deny", "actions": ["*"], "resources": ["telemetry/secret/*"]},
          {"id": "paris-firmware", "effect": "allow", "actions": ["firmware.read"], "resources": ["*"],
           "attributes": {"site": "paris"}}
        ]}
        """.write(toFile: policy, atomically: true, encoding: .utf8)
        let loaded = try eco.fleetkey(["authz", "policy", "set", "--dir", owner, policy, "--json"])
        #expect(loaded.status == 0, "\(loaded.stderr)")

        let allowed = try Self.check(
            fixture, ["--cert", device.certificate], action: "publish", resource: "telemetry/t1")
        #expect(
            allowed.status == 0 && allowed.decision?.decision == "allow" && allowed.decision?.rule == "berlin-publish")
        #expect(allowed.decision?.device == "Acme/L1-000001")
        let bySerial = try Self.check(fixture, ["--serial", "L1-000001"], action: "publish", resource: "telemetry/t2")
        #expect(bySerial.status == 0 && bySerial.decision?.rule == "berlin-publish")

        let overridden = try Self.check(
            fixture, ["--cert", device.certificate], action: "publish", resource: "telemetry/secret/keys")
        #expect(overridden.status == 1 && overridden.decision?.rule == "no-secrets")
        let unlisted = try Self.check(
            fixture, ["--cert", device.certificate], action: "subscribe", resource: "telemetry/t1")
        #expect(unlisted.status == 1 && unlisted.decision?.rule == nil)
        let otherSite = try Self.check(
            fixture, ["--cert", device.certificate], action: "firmware.read", resource: "fw/1.0")
        #expect(otherSite.status == 1, "a rule for another site's attribute applied")

        // A device that never enrolled is shipped, not active: denied whatever the policy says.
        let shipped = try Self.check(fixture, ["--serial", "L1-000002"], action: "publish", resource: "telemetry/t1")
        #expect(shipped.status == 1 && shipped.decision?.reason.contains("shipped") == true)

        // A bad policy is refused naming the rule and field, and the policy in force stays.
        for (document, expected) in [
            (
                #"{"version": 1, "rules": [{"id": "x", "effect": "allow", "actions": ["a"], "resources": ["r"], "groups": ["nope"]}]}"#,
                "group 'nope' does not exist"
            ),
            (
                #"{"version": 1, "rules": [{"id": "x", "effect": "permit", "actions": ["a"], "resources": ["r"]}]}"#,
                "\"effect\" must be"
            ),
            (
                #"{"version": 1, "rules": [{"id": "x", "effect": "allow", "actions": [], "resources": ["r"]}]}"#,
                "\"actions\" must be a non-empty array"
            ),
            (#"{"version": 1, "rules": [], "default": "allow"}"#, "unknown field \"default\""),
        ] {
            try document.write(toFile: eco.file("bad.json"), atomically: true, encoding: .utf8)
            let refused = try eco.fleetkey(["authz", "policy", "set", "--dir", owner, eco.file("bad.json")])
            #expect(refused.status != 0 && refused.stderr.contains(expected), "\(refused.stderr)")
        }
        let shown = try eco.fleetkey(["authz", "policy", "show", "--dir", owner])
        #expect(shown.stdout == (try String(contentsOfFile: policy, encoding: .utf8)))

        // Denies of known devices are recorded.
        let denied = try await fixture.registry.events(subject: nil, limit: nil).filter { $0.action == .accessDenied }
        #expect(denied.count >= 4)
        #expect(denied.contains { $0.detail["rule"] == "no-secrets" && $0.detail["requester"] == "cli" })

        // Once revoked, the device is denied.
        expectSuccess(
            try eco.fleetkey(["revoke", "--dir", owner, "--device", "L1-000001", "--reason", "keyCompromise"]))
        let revoked = try Self.check(
            fixture, ["--cert", device.certificate], action: "publish", resource: "telemetry/t1")
        #expect(revoked.status == 1 && revoked.decision?.reason.contains("revoked") == true)
    }

    @Test("POST /v1/authz answers a gateway with a domain certificate; others are refused; decisions are counted")
    func overHTTP() async throws {
        let fixture = try Fixture()
        let eco = fixture.eco
        let gateway = try Self.enrolled(fixture, "L1-000003")
        let device = try Self.enrolled(fixture, "L1-000004")
        expectSuccess(try eco.fleetkey(["group", "create", "--dir", fixture.owner, "all"]))
        expectSuccess(try eco.fleetkey(["group", "add", "--dir", fixture.owner, "all", "--vendor", "Acme"]))
        try
            #"{"version": 1, "rules": [{"id": "pub", "effect": "allow", "actions": ["publish"], "resources": ["t/*"], "groups": ["all"]}]}"#
            .write(toFile: eco.file("policy.json"), atomically: true, encoding: .utf8)
        expectSuccess(try eco.fleetkey(["authz", "policy", "set", "--dir", fixture.owner, eco.file("policy.json")]))

        func ask(_ body: [String: String], as client: (certificate: String, key: String)?) throws -> (Int, String) {
            let file = eco.file("authz-\(UUID().uuidString.prefix(8)).json")
            try JSONSerialization.data(withJSONObject: body).write(to: URL(fileURLWithPath: file))
            var arguments = [
                "-s", "--cacert", eco.file("tls-ca.pem"), "-H", "Content-Type: application/json", "--data-binary",
                "@\(file)", "-w", "\n%{http_code}",
            ]
            if let client { arguments += ["--cert", client.certificate, "--key", client.key] }
            let result = try Tools.run("curl", arguments + ["https://127.0.0.1:\(fixture.estPort)/v1/authz"])
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
        }
        let pem = try String(contentsOfFile: device.certificate, encoding: .utf8)
        let (status, body) = try ask(["certificate": pem, "action": "publish", "resource": "t/1"], as: gateway)
        #expect(
            status == 200 && body.contains("\"decision\":\"allow\"") && body.contains("\"rule\":\"pub\""), "\(body)")
        let (denyStatus, denyBody) = try ask(
            ["serial": "L1-000004", "action": "delete", "resource": "t/1"], as: gateway)
        #expect(denyStatus == 200 && denyBody.contains("\"decision\":\"deny\""), "\(denyBody)")

        let (anonymous, _) = try ask(["serial": "L1-000004", "action": "publish", "resource": "t/1"], as: nil)
        #expect(anonymous == 401)
        let factory = try fixture.factoryIdentity("L1-000005")
        let (foreign, _) = try ask(["serial": "L1-000004", "action": "publish", "resource": "t/1"], as: factory)
        #expect(foreign == 403)
        let (malformed, reason) = try ask(["action": "publish"], as: gateway)
        #expect(malformed == 400 && !reason.isEmpty)

        let metrics = try Tools.run("curl", ["-s", "http://127.0.0.1:\(fixture.ownerPort)/metrics"])
        #expect(metrics.stdout.contains("fleetkey_authz_decisions_total{decision=\"allow\"} 1"), "\(metrics.stdout)")
        #expect(metrics.stdout.contains("fleetkey_authz_decisions_total{decision=\"deny\"} 1"))
    }

    @Test("expiry report: LDevIDs by group, soonest first, a short-lived one flagged overdue for renewal")
    func expiryReport() async throws {
        let fixture = try Fixture()
        let eco = fixture.eco
        _ = try Self.enrolled(fixture, "L1-000001")
        // LDevIDs of 110 s, 60 of them backdated, renewed at half their lifetime: past the renewal window at
        // issuance, and 50 s from expiry.
        try fixture.editPolicy { policy in
            var enrollment = policy["enrollment"] as! [String: Any]
            enrollment["renewAtFraction"] = 0.5
            enrollment["renewJitterFraction"] = 0
            policy["enrollment"] = enrollment
            var profiles = policy["profiles"] as! [String: Any]
            var ldevid = profiles["ldevid"] as! [String: Any]
            ldevid["validitySeconds"] = 110
            profiles["ldevid"] = ldevid
            policy["profiles"] = profiles
        }
        _ = try Self.enrolled(fixture, "L1-000002")
        expectSuccess(try eco.fleetkey(["group", "create", "--dir", fixture.owner, "second"]))
        expectSuccess(try eco.fleetkey(["group", "add", "--dir", fixture.owner, "second", "--serial", "L1-000002"]))

        struct Report: Decodable {
            struct Entry: Decodable {
                var issuer: String
                var device: String?
                var daysLeft: Int
                var renewalOverdue: Bool
            }
            var certificates: [Entry]
            var renewalOverdue: Int
        }
        func report(_ arguments: [String]) throws -> Report {
            let result = try eco.fleetkey(["expiry", "report", "--dir", fixture.owner, "--json"] + arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        }
        let month = try report(["--within", "31d"])
        #expect(month.certificates.map(\.device) == ["Acme/L1-000002", "Acme/L1-000001"], "soonest first")
        #expect(month.certificates.map(\.renewalOverdue) == [true, false])
        #expect(month.renewalOverdue == 1)
        #expect(month.certificates.allSatisfy { $0.issuer == "domain-ca" })
        #expect(try report(["--within", "1h"]).certificates.map(\.device) == ["Acme/L1-000002"])
        #expect(try report(["--within", "31d", "--group", "second"]).certificates.map(\.device) == ["Acme/L1-000002"])
        #expect(try report(["--within", "31d", "--lot", "L9"]).certificates.isEmpty)
        let text = try eco.fleetkey(["expiry", "report", "--dir", fixture.owner, "--within", "31d"])
        #expect(text.stdout.contains("2 certificate(s) of all certificates expire within 31d"), "\(text.stdout)")
        #expect(text.stdout.contains("renewal overdue"))
        for (arguments, says) in [
            (["--within", "30 days"], "--within '30 days' is not a duration"),
            (["--within", "30d", "--lot", "L1", "--vendor", "Acme"], "at most one of"),
            (["--within", "30d", "--group", "nobody"], "no group 'nobody'"),
        ] {
            let refused = try eco.fleetkey(["expiry", "report", "--dir", fixture.owner] + arguments)
            #expect(refused.status == 1 && refused.stderr.contains(says), "\(refused.stderr)")
        }
    }
}
