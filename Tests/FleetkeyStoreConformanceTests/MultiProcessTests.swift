import FleetkeyCore
import FleetkeyPostgres
import FleetkeyTesting
import Foundation
import PostgresNIO
import Testing

/// Several `fleetkey` processes on one PostgreSQL database at once: the real binary, the real server.
@Suite("Several fleetkey processes on one PostgreSQL registry", .timeLimit(.minutes(20)))
struct MultiProcessTests {
    /// The serials a batch `issue --json` reports.
    static func issuedSerials(_ outcome: FleetkeyProcess.Outcome) throws -> [String] {
        let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        let issued = object?["issued"] as? [[String: Any]] ?? []
        return issued.compactMap { $0["serial"] as? String }
    }

    @Test("two processes issue 5,000 certificates each: 10,000 distinct serials, certificate rows and issuance events")
    func tenThousandFromTwoProcesses() async throws {
        let database = try await TestPostgres.createDatabase()
        let eco = try await CLIEcosystem(database: database.url)
        let perProcess = 5_000
        let first = try await eco.requests("first", prefix: "P1", count: perProcess)
        let second = try await eco.requests("second", prefix: "P2", count: perProcess)
        let processes = try [(first, "out-1"), (second, "out-2")].map { requests, out in
            try eco.start([
                "issue", "--vendor", "Acme", "--csr-dir", requests.path, "--out-dir", eco.root.path(out), "--lot",
                "BULK",
                "--json",
            ])
        }
        var serials: [String] = []
        for process in processes {
            let outcome = await process.outcome(within: .seconds(900))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("issue: 5000/5000 requests, 5000 issued, 0 refused"))
            serials += try Self.issuedSerials(outcome)
        }
        let total = 2 * perProcess
        #expect(serials.count == total && Set(serials).count == total)
        for out in ["out-1", "out-2"] {
            #expect(try FileManager.default.contentsOfDirectory(atPath: eco.root.path(out)).count == perProcess)
        }

        let deviceCertificates = "FROM certificates WHERE issuer = 'vendor-acme' AND profile = 'device-identity'"
        #expect(try await TestPostgres.integer("SELECT count(*) \(deviceCertificates)", on: database) == total)
        #expect(
            try await TestPostgres.integer("SELECT count(DISTINCT serial) \(deviceCertificates)", on: database) == total
        )
        #expect(
            try await TestPostgres.integer(
                "SELECT count(*) FROM events WHERE action = 'certificate.issued' "
                    + "AND detail->>'profile' = 'device-identity'",
                on: database) == total)
        #expect(
            try await TestPostgres.integer(
                "SELECT count(*) FROM events WHERE action = 'device.provisioned'", on: database)
                == total)
        #expect(
            try await TestPostgres.integer("SELECT count(*) FROM devices WHERE lot = 'BULK'", on: database) == total)
        // Every serial a process handed out is in the registry, and the registry has no serial nobody got.
        let recorded = try await TestPostgres.strings("SELECT serial \(deviceCertificates)", on: database)
        #expect(Set(recorded) == Set(serials))
        // Event sequence numbers are unique and without gaps from lost appends.
        #expect(
            try await TestPostgres.integer("SELECT count(DISTINCT sequence) FROM events", on: database) == 6 + 3 * total
        )
        await TestPostgres.dropDatabase(database)
    }

    @Test("two processes claiming the same new device: one wins, the other gets a clear conflict error")
    func conflictBetweenProcesses() async throws {
        let database = try await TestPostgres.createDatabase()
        let eco = try await CLIEcosystem(database: database.url)
        // Two different keys claiming device Acme/RACE-1.
        let claims = try await [
            eco.requests("claim-1", prefix: "RACE", count: 1), eco.requests("claim-2", prefix: "RACE", count: 1),
        ]
        let outcomes = try await TestPostgres.withConnection(to: database) { connection in
            // Hold the devices table, so that both processes get past their reads and queue up to write.
            try await connection.query("BEGIN", logger: TestPostgres.logger)
            try await connection.query("LOCK TABLE devices IN EXCLUSIVE MODE", logger: TestPostgres.logger)
            let processes = try claims.map { claim in
                try eco.start([
                    "issue", "--vendor", "Acme", "--csr", claim.appendingPathComponent("RACE-00000.csr").path,
                    "--out", claim.appendingPathComponent("RACE-00000.pem").path,
                ])
            }
            let waiting = try await Self.waitForBlockedWriters(2, in: database)
            try await connection.query("ROLLBACK", logger: TestPostgres.logger)
            var outcomes: [FleetkeyProcess.Outcome] = []
            for process in processes { outcomes.append(await process.outcome(within: .seconds(120))) }
            #expect(waiting, "both processes reached their write while the table was held")
            return outcomes
        }
        let winners = outcomes.filter { $0.status == 0 }
        let losers = outcomes.filter { $0.status != 0 }
        #expect(winners.count == 1 && losers.count == 1, "\(outcomes.map(\.output))")
        #expect(
            losers.first?.stderr.contains(
                "error [conflict]: device Acme/RACE-00000 was registered by another process first; re-read and retry")
                == true,
            "\(losers.first?.stderr ?? "")")
        #expect(
            try await TestPostgres.integer(
                "SELECT count(*) FROM certificates WHERE device_serial = 'RACE-00000'", on: database)
                == 1)
        #expect(
            try await TestPostgres.strings(
                "SELECT action FROM events WHERE subject = 'device:Acme/RACE-00000' ORDER BY sequence", on: database)
                == ["device.registered", "device.provisioned"])
        // The loser wrote no certificate file; the winner's file is the recorded certificate.
        let files = claims.map { $0.appendingPathComponent("RACE-00000.pem").path }.filter {
            FileManager.default.fileExists(atPath: $0)
        }
        #expect(files.count == 1)
        await TestPostgres.dropDatabase(database)
    }

    @Test("two processes revoking the same device at once: it is revoked once, and the loser re-reads and says so")
    func revocationRace() async throws {
        let database = try await TestPostgres.createDatabase()
        let eco = try await CLIEcosystem(database: database.url)
        let claim = try await eco.requests("device", prefix: "REV", count: 1)
        let issued = try await eco.fleetkey([
            "issue", "--vendor", "Acme", "--csr", claim.appendingPathComponent("REV-00000.csr").path,
        ])
        #expect(issued.status == 0, "\(issued.output)")
        let outcomes = try await TestPostgres.withConnection(to: database) { connection in
            // Hold the certificates table: both processes plan from the same read, then queue up to write.
            try await connection.query("BEGIN", logger: TestPostgres.logger)
            try await connection.query("LOCK TABLE certificates IN EXCLUSIVE MODE", logger: TestPostgres.logger)
            let processes = try (0..<2).map { _ in
                try eco.start(["revoke", "--device", "Acme/REV-00000", "--reason", "keyCompromise"])
            }
            let waiting = try await Self.waitForBlockedWriters(2, in: database)
            try await connection.query("ROLLBACK", logger: TestPostgres.logger)
            var outcomes: [FleetkeyProcess.Outcome] = []
            for process in processes { outcomes.append(await process.outcome(within: .seconds(120))) }
            #expect(waiting, "both processes reached their write while the table was held")
            return outcomes
        }
        #expect(outcomes.allSatisfy { $0.status == 0 }, "\(outcomes.map(\.output))")
        #expect(outcomes.filter { $0.stdout.contains("Revoked 1 certificate(s) of device Acme/REV-00000") }.count == 1)
        #expect(
            outcomes.filter { $0.stdout.contains("Nothing to revoke: device Acme/REV-00000 is already revoked") }.count
                == 1)
        #expect(
            try await TestPostgres.strings(
                "SELECT action FROM events WHERE subject = 'device:Acme/REV-00000' ORDER BY sequence", on: database)
                == ["device.registered", "device.provisioned", "device.revoked"])
        #expect(
            try await TestPostgres.integer(
                "SELECT count(*) FROM events WHERE action = 'certificate.revoked'", on: database) == 1)
        #expect(
            try await TestPostgres.strings("SELECT state FROM devices WHERE serial = 'REV-00000'", on: database) == [
                "revoked"
            ])
        await TestPostgres.dropDatabase(database)
    }

    @Test("a server and CLI processes share one registry: what one CLI revokes, the server answers as revoked")
    func serverAndCommands() async throws {
        let database = try await TestPostgres.createDatabase()
        let eco = try await CLIEcosystem(database: database.url)
        let port = try PostgresRegistryTests.unusedPort()
        let server = try eco.start(["serve", "--listen", "127.0.0.1:\(port)"])
        var healthy = false
        for _ in 0..<120 where !healthy {
            try await Task.sleep(for: .milliseconds(500))
            let probe = try await FleetkeyProcess.run(
                ["-sf", "http://127.0.0.1:\(port)/healthz"], environment: [:], logs: eco.root.url,
                executable: "/usr/bin/curl")
            healthy = probe.status == 0
        }
        #expect(healthy, "fleetkey serve answers /healthz")

        // Issued by one process while the server runs, revoked by another.
        let requests = try await eco.requests("served", prefix: "SRV", count: 20)
        let out = eco.root.path("served-out")
        let issued = try await eco.fleetkey(["issue", "--vendor", "Acme", "--csr-dir", requests.path, "--out-dir", out])
        #expect(issued.status == 0, "\(issued.output)")
        let revoked = try await eco.fleetkey(["revoke", "--device", "Acme/SRV-00003", "--reason", "keyCompromise"])
        #expect(revoked.status == 0, "\(revoked.output)")

        func status(_ device: String) async throws -> String {
            let answer = try await FleetkeyProcess.run(
                [
                    "ocsp", "-issuer", "\(eco.dir)/certs/vendor-acme.pem", "-cert", "\(out)/\(device).pem", "-url",
                    "http://127.0.0.1:\(port)/ocsp", "-CAfile", "\(eco.dir)/certs/root.pem", "-no_nonce",
                ], environment: [:], logs: eco.root.url, executable: "/usr/bin/openssl")
            return answer.stdout
        }
        var answer = ""
        for _ in 0..<60 where !answer.contains(": revoked") {
            answer = try await status("SRV-00003")
            if !answer.contains(": revoked") { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(answer.contains("SRV-00003.pem: revoked"), "\(answer)")
        #expect(try await status("SRV-00004").contains("SRV-00004.pem: good"))

        kill(server.processIdentifier, SIGTERM)
        let stopped = await server.outcome(within: .seconds(60))
        #expect(!stopped.killedBySignal, "the server stops on SIGTERM: \(stopped.stderr)")
        await TestPostgres.dropDatabase(database)
    }

    @Test("two batch processes racing over the same hundred devices: each device issued once, every refusal clear")
    func batchRace() async throws {
        let database = try await TestPostgres.createDatabase()
        let eco = try await CLIEcosystem(database: database.url)
        let count = 100
        let claims = try await [
            eco.requests("race-1", prefix: "SAME", count: count), eco.requests("race-2", prefix: "SAME", count: count),
        ]
        let processes = try claims.enumerated().map { index, claim in
            try eco.start([
                "issue", "--vendor", "Acme", "--csr-dir", claim.path, "--out-dir", eco.root.path("race-out-\(index)"),
                "--keep-going", "--json",
            ])
        }
        var issued: [String] = []
        for process in processes {
            let outcome = await process.outcome(within: .seconds(300))
            issued += try Self.issuedSerials(outcome)
            for line in outcome.stderr.split(separator: "\n") where line.hasPrefix("error [") {
                #expect(
                    line.hasPrefix("error [conflict]") || line.hasPrefix("error [invalid-transition]")
                        || line.contains("request(s) were refused"), "\(line)")
            }
        }
        #expect(issued.count == count && Set(issued).count == count)
        #expect(
            try await TestPostgres.integer(
                "SELECT count(*) FROM certificates WHERE profile = 'device-identity'", on: database) == count)
        #expect(
            try await TestPostgres.integer(
                "SELECT count(*) FROM (SELECT device_serial FROM certificates WHERE device_serial IS NOT NULL "
                    + "GROUP BY device_serial HAVING count(*) > 1) AS duplicated", on: database) == 0)
        #expect(
            try await TestPostgres.integer(
                "SELECT count(*) FROM events WHERE action = 'device.provisioned'", on: database)
                == count)
        await TestPostgres.dropDatabase(database)
    }

    @Test(
        "init --database puts the registry in PostgreSQL; later commands find it with no flag, and no password is kept")
    func selection() async throws {
        let database = try await PostgresRegistryTests.scramDatabase()
        let password = PostgresRegistryTests.scramPassword
        var superuser = database
        superuser.user = try TestPostgres.server().user
        let eco = try await CLIEcosystem(
            database: database.url, extraEnvironment: ["FLEETKEY_DATABASE_PASSWORD": password])
        let configuration = try String(contentsOfFile: "\(eco.dir)/fleetkey.json", encoding: .utf8)
        #expect(configuration.contains("\"registry\" : \"\(database.url)\""))
        #expect(!FileManager.default.fileExists(atPath: "\(eco.dir)/registry.sqlite"))
        #expect(try await TestPostgres.integer("SELECT count(*) FROM vendors", on: superuser) == 1)

        // Later commands: no --database flag; the password from PGPASSWORD as libpq would take it.
        let claim = try await eco.requests("one", prefix: "SEL", count: 1)
        let issued = try await eco.fleetkey(
            ["issue", "--vendor", "Acme", "--csr", claim.appendingPathComponent("SEL-00000.csr").path, "--json"],
            ["PGPASSWORD": password])
        #expect(issued.status == 0, "\(issued.output)")
        let listed = try await eco.fleetkey(["device", "list", "--json"], ["PGPASSWORD": password])
        #expect(listed.status == 0 && listed.stdout.contains("SEL-00000"), "\(listed.output)")
        let vendors = try await eco.fleetkey(["vendor", "list"], ["FLEETKEY_DATABASE_PASSWORD": password])
        #expect(vendors.status == 0 && vendors.stdout.contains("Acme"), "\(vendors.output)")

        // Without the password, or with a wrong one: a clear error that names the database, not the password.
        let missing = try await eco.fleetkey(["device", "list"])
        #expect(
            missing.status != 0 && missing.stderr.contains("error [storage]") && missing.stderr.contains(database.url))
        #expect(missing.stderr.contains("FLEETKEY_DATABASE_PASSWORD or PGPASSWORD"), "\(missing.stderr)")
        let wrong = try await eco.fleetkey(["device", "list"], ["PGPASSWORD": "wrong-\(password)"])
        #expect(wrong.status != 0 && wrong.stderr.contains("password authentication failed"), "\(wrong.stderr)")

        // A second ecosystem on the same database is refused before anything is created.
        let other = eco.root.path("other")
        let again = try await eco.fleetkey(
            ["init", "--dir", other, "--name", "Other", "--kdf-log2n", "14", "--database", database.url],
            ["FLEETKEY_DATABASE_PASSWORD": password])
        #expect(again.status != 0 && again.stderr.contains("error [already-exists]"), "\(again.output)")
        #expect(!FileManager.default.fileExists(atPath: other))
        // A URL with the password in it is refused, and the password is not repeated.
        let inline = try await eco.fleetkey([
            "init", "--dir", other, "--name", "Other", "--database",
            "postgres://fleetkey_scram:\(password)@\(database.host):\(database.port)/\(database.database)",
        ])
        #expect(inline.status != 0 && inline.stderr.contains("must not contain a password"), "\(inline.output)")
        #expect(!FileManager.default.fileExists(atPath: other))

        // The password is nowhere: not in any file of the ecosystem, not in any output.
        for outcome in [issued, listed, vendors, missing, wrong, again, inline] {
            #expect(!outcome.output.contains(password))
        }
        let files = FileManager.default.enumerator(atPath: eco.dir)?.compactMap { $0 as? String } ?? []
        for file in files {
            let contents = FileManager.default.contents(atPath: "\(eco.dir)/\(file)") ?? Data()
            #expect(contents.range(of: Data(password.utf8)) == nil, "\(file) holds the database password")
        }
        await TestPostgres.dropDatabase(database)
    }

    /// Waits until `count` sessions of `database` are waiting for a lock (at most a minute).
    static func waitForBlockedWriters(_ count: Int, in database: PostgresLocation) async throws -> Bool {
        var maintenance = database
        maintenance.database = "postgres"
        for _ in 0..<600 {
            let waiting = try await TestPostgres.integer(
                "SELECT count(*) FROM pg_stat_activity "
                    + "WHERE datname = '\(database.database)' AND wait_event_type = 'Lock'",
                on: maintenance)
            if waiting >= count { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
