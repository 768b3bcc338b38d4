import FleetkeyCore
import Foundation
import Testing

@Suite("Access policy documents and decisions")
struct AccessPolicyTests {
    static func policy(_ json: String, groups: Set<String>? = nil) throws(FleetkeyError) -> AccessPolicy {
        try AccessPolicy(document: Array(json.utf8), knownGroups: groups)
    }

    @Test("deny overrides allow, nothing is allowed by default, wildcards match any run of characters")
    func decisions() throws {
        let policy = try Self.policy(
            """
            {"version": 1, "rules": [
              {"id": "a", "effect": "allow", "actions": ["publish", "sub*"], "resources": ["t/*/x", "exact"],
               "groups": ["g1"]},
              {"id": "d", "effect": "deny", "actions": ["publish"], "resources": ["t/secret*"]},
              {"id": "attr", "effect": "allow", "actions": ["firmware.read"], "resources": ["*"],
               "attributes": {"site": "berlin"}}
            ]}
            """)
        func rule(_ action: String, _ resource: String, groups: Set<String> = ["g1"], site: String? = nil) -> String? {
            policy.decidingRule(
                action: action, resource: resource, groups: groups,
                attributes: site.map { ["site": [$0]] } ?? [:])?.id
        }
        #expect(rule("publish", "t/a/b/x") == "a")
        #expect(rule("subscribe", "exact") == "a")
        #expect(rule("publish", "exact", groups: []) == nil)
        #expect(rule("publish", "t/a/y") == nil)
        #expect(rule("publish", "t/secret/x") == "d")
        #expect(
            policy.decidingRule(action: "publish", resource: "t/secret/x", groups: ["g1"], attributes: [:])?.effect
                == .deny)
        #expect(rule("firmware.read", "fw", site: "berlin") == "attr")
        #expect(rule("firmware.read", "fw", site: "paris") == nil)
        #expect(rule("delete", "t/a/x") == nil)
    }

    @Test("a bad document is refused naming the rule and the field")
    func refusals() {
        for (json, expected) in [
            ("[]", "must be a JSON object"),
            (#"{"version": 2, "rules": []}"#, "\"version\" must be 1"),
            (#"{"version": 1}"#, "\"rules\" must be an array"),
            (#"{"version": 1, "rules": [{"id": "x", "effect": "allow", "actions": ["a"]}]}"#, "\"resources\""),
            (
                #"{"version": 1, "rules": [{"id": "x", "effect": "allow", "actions": ["a"], "resources": ["r"], "colour": 1}]}"#,
                "unknown field \"colour\""
            ),
            (
                #"{"version": 1, "rules": [{"id": "x", "effect": "allow", "actions": ["a"], "resources": ["r"]}, {"id": "x", "effect": "deny", "actions": ["a"], "resources": ["r"]}]}"#,
                "rule 2: id 'x' is used by an earlier rule"
            ),
            (
                #"{"version": 1, "rules": [{"id": "x", "effect": "allow", "actions": ["a b"], "resources": ["r"]}]}"#,
                "without spaces"
            ),
            (
                #"{"version": 1, "rules": [{"id": "x", "effect": "allow", "actions": ["a"], "resources": ["r"], "attributes": {"Site": "b"}}]}"#,
                "attribute key"
            ),
        ] {
            do throws(FleetkeyError) {
                _ = try Self.policy(json)
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.reason.contains(expected), "\(error.reason)")
                #expect(error.reason.contains("nothing was loaded"))
            }
        }
        #expect(throws: FleetkeyError(.invalidArgument, "")) {
            try Self.policy(
                #"{"version": 1, "rules": [{"id": "x", "effect": "allow", "actions": ["a"], "resources": ["r"], "groups": ["g"]}]}"#,
                groups: ["other"])
        }
    }

    @Test("groups take in devices by vendor, lot and serial")
    func groupMembership() throws {
        let acme = try VendorName("Acme")
        let device = DeviceRecord(
            id: DeviceID(vendor: acme, serial: try DeviceSerial("S1")), state: .active, lot: "L1",
            keyFingerprint: "00", hardwareModule: nil, createdAt: Date(), updatedAt: Date())
        #expect(GroupSelector.vendor(acme).matches(device))
        #expect(GroupSelector.lot(vendor: nil, name: "L1").matches(device))
        #expect(!GroupSelector.lot(vendor: try VendorName("Other"), name: "L1").matches(device))
        #expect(GroupSelector.device(vendor: acme, serial: try DeviceSerial("S1")).matches(device))
        #expect(!GroupSelector.device(vendor: nil, serial: try DeviceSerial("S2")).matches(device))
        #expect(throws: FleetkeyError(.invalidArgument, "")) { try DeviceGroup.checkName("a/b") }
        #expect(throws: FleetkeyError(.invalidArgument, "")) { _ = try DeviceGroup.attribute(parsing: "novalue") }
    }
}
