import FleetkeyCore
import FleetkeySQLite
import FleetkeyServer
import FleetkeyTesting
import Foundation
import GRDB
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SwiftASN1
import X509

/// OCSP responses per second over HTTP/1.1 keep-alive on loopback, from wrk, with N known serials.
///
/// The same run measures two references: a trivial route on the same Hummingbird server under the same wrk (the
/// HTTP stack's own ceiling), and `openssl ocsp -index ... -port` answering a request of the same kind over the
/// same serials (a peer responder). openssl's responder binds every interface, so it runs in a private network
/// namespace (`unshare -n`) with its load generator; it closes every connection, so that generator is `ab`.
enum OCSPWorkload {
    struct Result {
        var rate: Double
        var p99Milliseconds: Double
        var trivialRate: Double
        var opensslRate: Double?
        /// How the openssl peer ran: its process count, how long it took to answer, or why it gave no figure.
        var opensslNote: String
        var peakMiB: Double
    }

    static func run(
        knownSerials: Int, distinctQueries: Int, seconds: Int, scratch: URL, log: @Sendable (String) -> Void
    )
        async throws -> Result
    {
        let directory = scratch.appendingPathComponent("ocsp-\(knownSerials)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let registry = try SQLiteRegistry(path: directory.appendingPathComponent("registry.sqlite").path)
        let custody = InMemoryKeyCustody()
        let world = try await ThrowawayEcosystem.make(vendors: ["Acme"], store: registry, custody: custody, now: Date())
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        log("    registering \(knownSerials) certificates")
        let serials = try bulkLoad(
            knownSerials, registry: registry, path: directory.appendingPathComponent("registry.sqlite").path)

        let signer = try await world.ecosystem.delegatedSigner(
            vendor: try VendorName("Acme"), profile: CertificateProfile.Name.ocspResponder, index: registry)
        let responder = try OCSPResponder(
            issuers: [
                try OCSPServedIssuer(
                    authorityID: authority.id, caCertificate: authority.certificate,
                    responderCertificate: signer.certificate,
                    responderKey: signer.key)
            ], statusSource: RegistryStatusSource(store: registry), clock: SystemWallClock())

        // Requests as `openssl ocsp -no_nonce` sends them, over a random subset of the known serials.
        var bodies: [[UInt8]] = []
        var lines = ""
        for index in 0..<distinctQueries {
            let serial = serials[(index &* 7_919) % serials.count]
            let der = try OCSPRequestBuilder.requestDER(
                issuer: authority.certificate, serial: .init(bytes: serial[...]))
            bodies.append(der)
            lines += Hex.lower(der) + "\n"
        }
        let requestsFile = directory.appendingPathComponent("requests.hex")
        try lines.write(to: requestsFile, atomically: true, encoding: .utf8)
        let script = directory.appendingPathComponent("ocsp.lua")
        try luaScript.write(to: script, atomically: true, encoding: .utf8)
        // Pre-sign every answer once, as a long-running responder would have.
        for body in bodies { _ = await responder.respond(to: body) }

        let port = Int.random(in: 46_000...52_000)
        let router = Router()
        router.get("/trivial") { _, _ in "ok" }
        StatusRoutes(
            ocsp: responder, crls: CRLDistribution(policy: world.ecosystem.policy),
            metrics: PrometheusCollectorRegistry(),
            rateLimiter: ClientRateLimiter(ServerLimits(), clock: SystemWallClock()), clock: SystemWallClock()
        )
        .register(on: router)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        let group = ServiceGroup(configuration: .init(services: [app], logger: .init(label: "bench")))
        let server = Task { try await group.run() }
        defer { server.cancel() }
        try await Task.sleep(for: .seconds(1))

        PeakMemory.reset()
        let environment = ["OCSP_REQUESTS": requestsFile.path]
        let ocsp = try wrk(
            ["-s", script.path, "http://127.0.0.1:\(port)/ocsp"], seconds: seconds, environment: environment)
        let peak = PeakMemory.peakMiB()
        let trivial = try wrk(["http://127.0.0.1:\(port)/trivial"], seconds: seconds, environment: [:])
        await group.triggerGracefulShutdown()

        log("    openssl ocsp over the same \(knownSerials) serials")
        let peer = try openssl(
            serials: serials, directory: directory, authority: authority, responder: signer.certificate,
            responderKey: try await custody.signingKey(responderReference).serializeAsPEM().pemString,
            firstRequest: bodies[1], seconds: seconds)
        log("    openssl: \(peer.note)")
        return Result(
            rate: ocsp.rate, p99Milliseconds: ocsp.p99Milliseconds, trivialRate: trivial.rate, opensslRate: peer.rate,
            opensslNote: peer.note, peakMiB: peak)
    }

    /// The in-memory custody reference of the responder key (`Ecosystem.addVendor` labels it `<authority>-<profile>`).
    static let responderReference = "memory:vendor-acme-\(CertificateProfile.Name.ocspResponder)"

    /// Inserts `count` valid certificates (every tenth revoked) of vendor-acme, returning their serials.
    static func bulkLoad(_ count: Int, registry: SQLiteRegistry, path: String) throws -> [[UInt8]] {
        let queue = try DatabaseQueue(path: path)
        let random = SystemRandomSource()
        var serials: [[UInt8]] = []
        serials.reserveCapacity(count)
        try queue.write { db in
            try db.execute(
                sql:
                    "INSERT INTO keys (fingerprint, spki, algorithm, custody, location, created_at) VALUES ('bench', x'00', 'ecdsa-p256', 'external', NULL, 0)"
            )
            let insert = try db.makeStatement(
                sql: """
                    INSERT INTO certificates (issuer, serial, profile, subject, not_before, not_after, key_fingerprint, der,
                        status, issued_at, revoked_at, revocation_reason)
                    VALUES ('vendor-acme', ?, 'device-identity', 'O=Acme', 0, 4102444800, 'bench', x'00', ?, 0, ?, ?)
                    """)
            for index in 0..<count {
                var serial = random.bytes(count: 16)
                serial[0] = (serial[0] & 0x7F) | 0x40
                let revoked = index % 10 == 0
                try insert.execute(arguments: [
                    Hex.upper(serial), revoked ? "revoked" : "valid", revoked ? 1_790_000_000.0 : nil,
                    revoked ? 1 : nil,
                ])
                serials.append(serial)
            }
        }
        return serials
    }

    struct WrkResult {
        var rate: Double
        var p99Milliseconds: Double
    }

    static let luaScript = """
        local bodies = {}
        for line in io.lines(os.getenv("OCSP_REQUESTS")) do
            bodies[#bodies + 1] = (line:gsub("..", function(cc) return string.char(tonumber(cc, 16)) end))
        end
        local i = 0
        request = function()
            i = i % #bodies + 1
            return wrk.format("POST", nil, { ["Content-Type"] = "application/ocsp-request" }, bodies[i])
        end
        """

    static func wrk(_ arguments: [String], seconds: Int, environment: [String: String]) throws -> WrkResult {
        let output = try run(
            "/usr/bin/wrk", ["-t1", "-c32", "-d\(seconds)s", "--latency"] + arguments, environment: environment)
        return try parseWrk(output)
    }

    static func parseWrk(_ output: String) throws -> WrkResult {
        var rate: Double?
        var p99: Double?
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first == "Requests/sec:", fields.count > 1 { rate = Double(fields[1]) }
            if fields.first == "99%", fields.count > 1 { p99 = milliseconds(String(fields[1])) }
            if line.contains("Non-2xx") { throw FleetkeyError(.storage, "wrk saw HTTP errors: \(line)") }
        }
        guard let rate else { throw FleetkeyError(.storage, "could not read wrk's output:\n\(output)") }
        return WrkResult(rate: rate, p99Milliseconds: p99 ?? .nan)
    }

    static func milliseconds(_ text: String) -> Double? {
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return nil
    }

    /// The openssl peer's figure, or `nil` with the reason in `note`.
    struct PeerResult {
        var rate: Double?
        var note: String
    }

    /// `openssl ocsp` as a responder over an index of the same serials, loaded by `ab` inside a private network and
    /// PID namespace.
    ///
    /// openssl's responder binds every interface, hence the network namespace (whose loopback starts down: the shell
    /// brings it up). It runs with `-multi` set to the core count, so that, like Fleetkey's server, it uses every core.
    /// It must never outlive the run (an orphan spins on accept() in its dead namespace). Earlier runs left orphans, and
    /// got no figure, because the peer inherited this process's blocked SIGTERM and SIGALRM (see ``Subprocess``):
    /// neither `kill` nor `timeout` could stop it. Now the shell is started with no signal blocked, and is PID 1 of its
    /// own PID namespace, so when it exits, however it exits, the kernel kills openssl and every child it forked;
    /// `unshare --kill-child` kills the shell if unshare itself is killed; and `timeout -s KILL` bounds the whole.
    /// Loading a 10^5-line index takes openssl about 0.1 s, 10^6 lines about 2 s; the shell waits up to 60 s for the
    /// first good answer, and reports how long it took.
    static func openssl(
        serials: [[UInt8]], directory: URL, authority: CertificateAuthority, responder: Certificate,
        responderKey: String,
        firstRequest: [UInt8], seconds: Int
    ) throws -> PeerResult {
        var index = ""
        index.reserveCapacity(serials.count * 70)
        for (position, serial) in serials.enumerated() {
            let status = position % 10 == 0 ? "R\t491231235959Z\t260101000000Z,keyCompromise" : "V\t491231235959Z\t"
            // Distinct subjects: openssl's index refuses duplicates unless index.txt.attr says unique_subject = no.
            index += "\(status)\t\(Hex.upper(serial))\tunknown\t/CN=\(Hex.upper(serial))\n"
        }
        try index.write(to: directory.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
        try authority.certificate.pemString().write(
            to: directory.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
        try responder.pemString().write(
            to: directory.appendingPathComponent("responder.pem"), atomically: true, encoding: .utf8)
        try responderKey.write(to: directory.appendingPathComponent("responder.key"), atomically: true, encoding: .utf8)
        let d = directory.path
        let processes = max(1, ProcessInfo.processInfo.activeProcessorCount)
        // openssl's responder answers one request per connection and closes it without a Content-Length, which wrk
        // cannot count; ApacheBench (`ab`) handles that, so it drives openssl, with the same concurrency and requests.
        // `ab -r` keeps going past a reset connection instead of aborting the whole measurement; `-s 5` bounds each
        // request; openssl's own `-timeout 5` stops one stalled client from blocking a responder process for good.
        let shell = """
            ip link set lo up || { echo "peer: cannot bring up the namespace's loopback"; exit 2; }
            openssl ocsp -index \(d)/index.txt -port 18888 -multi \(processes) -timeout 5 -rsigner \(d)/responder.pem \
                -rkey \(d)/responder.key -CA \(d)/ca.pem -ndays 1 >\(d)/openssl.log 2>&1 &
            responder=$!
            trap 'kill -9 $responder 2>/dev/null' EXIT
            trap 'exit 1' TERM INT
            started=$(date +%s%N)
            ready=
            for i in $(seq 1 120); do
                if curl -sf --max-time 2 -o \(d)/first.der -H 'Content-Type: application/ocsp-request' \
                    --data-binary @\(d)/request.der http://127.0.0.1:18888/; then ready=yes; break; fi
                kill -0 $responder 2>/dev/null || { echo "peer: openssl exited: $(tail -c 400 \(d)/openssl.log)"; exit 3; }
                sleep 0.5
            done
            [ -n "$ready" ] || { echo "peer: openssl did not answer within 60 s: $(tail -c 400 \(d)/openssl.log)"; exit 4; }
            echo "peer-ready-ms: $(( ($(date +%s%N) - started) / 1000000 ))"
            openssl ocsp -respin \(d)/first.der -resp_text -noverify 2>&1 | grep -E 'OCSP Response Status|Cert Status' | sed 's/^ */peer-answer: /'
            ab -q -l -r -s 5 -t \(seconds) -n 100000000 -c 32 -p \(d)/request.der -T application/ocsp-request \
                http://127.0.0.1:18888/ 2>&1
            """
        try Data(firstRequest).write(to: directory.appendingPathComponent("request.der"))
        // Bounded: a peer that never answers is reported as a missing reference, not a hung benchmark.
        let outcome = try Subprocess.run(
            "/usr/bin/timeout",
            [
                "-s", "KILL", "\(seconds + 90)", "/usr/bin/unshare", "--net", "--pid", "--fork", "--kill-child=KILL",
                "bash", "-c", shell,
            ])
        var rate: Double?
        var readyMilliseconds: String?
        var answers: [String] = []
        var failed = 0
        for line in outcome.output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.hasPrefix("Requests per second:") { rate = fields.dropFirst(3).first.flatMap { Double($0) } }
            if line.hasPrefix("peer-ready-ms:") { readyMilliseconds = fields.last.map(String.init) }
            if line.hasPrefix("peer-answer:") {
                answers.append(line.dropFirst("peer-answer: ".count).trimmingCharacters(in: .whitespaces))
            }
            if line.hasPrefix("Failed requests:") { failed = fields.last.flatMap { Int($0) } ?? 0 }
        }
        guard let rate, let readyMilliseconds else {
            let reason = outcome.output.split(separator: "\n").first { $0.hasPrefix("peer:") } ?? "no figure from ab"
            return PeerResult(
                rate: nil, note: "the openssl responder gave no figure (exit \(outcome.status)): \(reason)")
        }
        return PeerResult(
            rate: rate,
            note:
                "openssl ocsp -multi \(processes) over a \(serials.count)-line index: first answer \(readyMilliseconds) ms "
                + "after start (\(answers.joined(separator: ", "))), \(failed) failed requests")
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> String {
        try Subprocess.run(executable, arguments, environment: environment).output
    }
}
