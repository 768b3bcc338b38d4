import Foundation
import Testing

/// Expiry notices from `fleetkey serve` to a webhook receiver on loopback (a Python `http.server`, not Fleetkey's
/// code), which checks every signature, fails the first two deliveries, and then accepts.
@Suite("Expiry webhooks", .serialized)
struct ExpiryWebhookTests {
    /// The receiver: it checks the HMAC-SHA256 over `timestamp.body` with the shared secret, the timestamp against
    /// its own clock and the Idempotency-Key against the body; answers 500 to the first two deliveries, then 204; and
    /// writes one line per request: its outcome and the idempotency key.
    static let receiver = #"""
        import hashlib, hmac, http.server, json, sys, time
        port, secret_path, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        secret = open(secret_path, "rb").read()
        seen = [0]
        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stamp = self.headers.get("Fleetkey-Timestamp", "")
                expected = "sha256=" + hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                key = self.headers.get("Idempotency-Key", "")
                good = (hmac.compare_digest(expected, self.headers.get("Fleetkey-Signature", ""))
                        and stamp.isdigit() and abs(time.time() - int(stamp)) < 300
                        and json.loads(body).get("idempotencyKey") == key
                        and self.headers.get("Content-Type") == "application/json")
                seen[0] += 1
                outcome, status = ("bad-signature", 401) if not good else (("failed", 500) if seen[0] <= 2 else ("accepted", 204))
                with open(log_path, "a") as log:
                    log.write(outcome + " " + key + " " + json.loads(body).get("device", "-") + "\n")
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *arguments):
                pass
        http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()
        """#

    /// Edits a JSON file of the ecosystem directory in place.
    static func edit(_ path: String, _ change: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: path)
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        change(&object)
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
    }

    /// The receiver's log: outcome and key per request.
    static func lines(_ log: String) -> [(outcome: String, key: String, device: String)] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map { line in
            let parts = line.split(separator: " ").map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : "", parts.count > 2 ? parts[2] : "")
        }
    }

    static func waitFor(_ accepted: Int, in log: String, seconds: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, lines(log).count(where: { $0.outcome == "accepted" }) < accepted {
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    @Test("each notice arrives once, signed, after two failed deliveries and across a restart; retries back off")
    func deliveredOnce() async throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        // Device identities of an hour, 600 s of it backdated: 50 minutes left at issuance, under the 55-minute
        // threshold, and a lifetime above it.
        try Self.edit("\(eco.dir)/policy.json") { policy in
            var profiles = policy["profiles"] as! [String: Any]
            var device = profiles["device-identity"] as! [String: Any]
            device["validitySeconds"] = 3_600
            device["backdateSeconds"] = 600
            profiles["device-identity"] = device
            policy["profiles"] = profiles
        }
        expectSuccess(try eco.fleetkey(["factory", "provision", "--vendor", "Acme", "--lot", "W1", "--count", "3"]))

        let secret = eco.file("eco/webhook.key")
        FileManager.default.createFile(
            atPath: secret, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }),
            attributes: [.posixPermissions: 0o600])
        let receiverPort = LoopbackPort.reserve()
        let log = eco.file("receiver.log")
        try Self.receiver.write(toFile: eco.file("receiver.py"), atomically: true, encoding: .utf8)
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        receiver.arguments = [eco.file("receiver.py"), "\(receiverPort)", secret, log]
        // Not the test runner's output: a receiver left running would hold that pipe open, and the runner with it.
        receiver.standardOutput = FileHandle.nullDevice
        receiver.standardError = FileHandle.nullDevice
        try receiver.run()
        // SIGKILL: a child of the test runner may inherit a signal mask that blocks SIGTERM.
        defer {
            Foundation.kill(receiver.processIdentifier, SIGKILL)
            receiver.waitUntilExit()
        }
        try Self.edit("\(eco.dir)/fleetkey.json") { configuration in
            configuration["webhooks"] = [
                [
                    "name": "ops", "url": "http://127.0.0.1:\(receiverPort)/hooks/fleetkey",
                    "secretFile": "webhook.key",
                    "thresholds": ["30d", "55m"], "retryBaseSeconds": 1, "retryMaximumSeconds": 4, "scanSeconds": 1,
                ]
            ]
        }

        var server = try RunningServer(eco)
        try await Self.waitFor(3, in: log)
        server.stop()
        var seen = Self.lines(log)
        #expect(seen.count(where: { $0.outcome == "failed" }) == 2, "\(seen)")
        #expect(seen.count(where: { $0.outcome == "accepted" }) == 3, "\(server.output)")

        // Stopped and started again, with two more devices near expiry: only their notices are sent.
        expectSuccess(try eco.fleetkey(["factory", "provision", "--vendor", "Acme", "--lot", "W2", "--count", "2"]))
        server = try RunningServer(eco)
        try await Self.waitFor(5, in: log)
        try await Task.sleep(for: .seconds(3))
        server.stop()
        seen = Self.lines(log)
        let accepted = seen.filter { $0.outcome == "accepted" }
        #expect(accepted.count == 5, "\(seen)")
        #expect(Set(accepted.map(\.key)).count == 5, "a notice arrived twice: \(seen)")
        #expect(
            Set(accepted.map(\.device))
                == Set((1...3).map { "Acme/W1-00000\($0)" } + ["Acme/W2-000001", "Acme/W2-000002"]))
        #expect(!seen.contains { $0.outcome == "bad-signature" }, "\(seen)")

        // The registry holds each delivery: all delivered, the retried ones with their attempts counted.
        let rows = try Tools.run(
            "sqlite3",
            ["\(eco.dir)/registry.sqlite", "SELECT state, attempts FROM webhook_deliveries ORDER BY attempts"])
        let states = rows.stdout.split(separator: "\n")
        #expect(states.count == 5 && states.allSatisfy { $0.hasPrefix("delivered|") }, "\(rows.output)")
        #expect(states.map { Int($0.split(separator: "|")[1]) ?? 0 }.reduce(0, +) == 7, "\(rows.output)")
        // The secret is in no log.
        let secretHex = try Data(contentsOf: URL(fileURLWithPath: secret)).map { String(format: "%02x", $0) }.joined()
        #expect(!server.output.contains(secretHex))
    }

    @Test("a webhook misconfigured or with a secret others may read stops serve, naming the field")
    func refusedConfiguration() throws {
        let eco = try CLIEcosystem(vendors: ["Acme"])
        let secret = eco.file("eco/webhook.key")
        FileManager.default.createFile(
            atPath: secret, contents: Data(repeating: 7, count: 32), attributes: [.posixPermissions: 0o644])
        let cases: [([String: Any], String)] = [
            (["secretFile": "webhook.key", "thresholds": ["7d"]], "chmod 600"),
            (["secretFile": "webhook-missing.key", "thresholds": ["7d"]], "cannot be read"),
            (["secretFile": "webhook.key", "thresholds": ["7 days"]], "\"thresholds\""),
        ]
        for (hook, expected) in cases {
            if expected == "chmod 600" {
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: secret)
            } else {
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secret)
            }
            try Self.edit("\(eco.dir)/fleetkey.json") { configuration in
                configuration["webhooks"] = [
                    (["name": "ops", "url": "http://127.0.0.1:9/hook"] as [String: Any]).merging(hook) { $1 }
                ]
            }
            let result = try eco.fleetkey(["serve", "--listen", "127.0.0.1:\(LoopbackPort.reserve())"])
            #expect(result.status == 1 && result.stderr.contains(expected), "\(result.output)")
        }
    }
}
