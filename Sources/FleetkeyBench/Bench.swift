import FleetkeyCore
import FleetkeyCustody
import FleetkeyPostgres
import Foundation

/// `fleetkey-bench`: measures Fleetkey's throughput against the machine's own limits, in one run.
///
/// Usage: `fleetkey-bench [--quick|--full] [--json FILE] [--markdown FILE] [--scratch DIR] [--command TEXT]`.
/// Build it in release mode (scripts/bench does); debug figures mean nothing.
@main
struct FleetkeyBench {
    struct Plan {
        var mode: String
        var cryptoSeconds: Double
        var issuanceSizes: [Int]
        var scalingSize: Int
        /// Certificates per PostgreSQL issuance run, at each of 1, 2 and 4 workers.
        var postgresIssuanceSize: Int
        var lookupSizes: [Int]
        var lookups: Int
        var crlSizes: [Int]
        var ocspKnownSerials: Int
        var ocspSeconds: Int
        /// Devices provisioned into emulated elements and then exported and imported as one manifest; SoftHSM2 is
        /// slower and provisions fewer.
        var supplyChainDevices: Int
        var softHSMDevices: Int
        /// EST: enrollments in process (the reference), then over TLS at each concurrency, with that many devices.
        var estInProcess: Int
        var estLevels: [Int: Int]

        // 10^7 devices are in --full only: loading them takes about five minutes a store on the 2-core dev machine.
        // --quick's OCSP run uses 10^5 known serials (--full: 10^6); openssl's responder loads either in seconds.
        static let quick = Plan(
            mode: "quick", cryptoSeconds: 1, issuanceSizes: [2_000, 10_000], scalingSize: 10_000,
            postgresIssuanceSize: 2_000, lookupSizes: [1_000_000], lookups: 20_000, crlSizes: [10_000, 100_000],
            ocspKnownSerials: 100_000, ocspSeconds: 5, supplyChainDevices: 10_000, softHSMDevices: 50,
            estInProcess: 300, estLevels: [1: 100, 16: 400, 64: 800])
        static let full = Plan(
            mode: "full", cryptoSeconds: 3, issuanceSizes: [10_000, 100_000, 1_000_000], scalingSize: 100_000,
            postgresIssuanceSize: 100_000, lookupSizes: [1_000_000, 10_000_000], lookups: 100_000,
            crlSizes: [10_000, 100_000, 1_000_000], ocspKnownSerials: 1_000_000, ocspSeconds: 15,
            supplyChainDevices: 100_000, softHSMDevices: 200, estInProcess: 2_000,
            estLevels: [1: 300, 16: 3_000, 64: 6_000])
    }

    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        func value(_ flag: String) -> String? {
            guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
            defer { arguments.removeSubrange(index...(index + 1)) }
            return arguments[index + 1]
        }
        if arguments.contains("--help") || arguments.contains("-h") {
            print(
                "usage: fleetkey-bench [--quick|--full] [--json FILE] [--markdown FILE] [--scratch DIR] [--command TEXT]\n"
                    + "       [--only issuance|lookup|crl|ocsp|est|supply-chain]; FLEETKEY_BENCH_SUPPLY_DEVICES and "
                    + "FLEETKEY_BENCH_HSM_DEVICES resize the supply-chain workload for profiling")
            return
        }
        let jsonPath = value("--json") ?? "benchmarks/results.json"
        let markdownPath = value("--markdown") ?? "docs/benchmarks.md"
        let scratch = URL(fileURLWithPath: value("--scratch") ?? NSTemporaryDirectory()).appendingPathComponent(
            "fleetkey-bench")
        let command = value("--command") ?? "fleetkey-bench " + CommandLine.arguments.dropFirst().joined(separator: " ")
        var plan = arguments.contains("--full") ? Plan.full : Plan.quick
        // `--only issuance|lookup|crl|ocsp|est|supply-chain` runs one group (for profiling); a partial run writes no files.
        let only = value("--only")
        if let only {
            if only != "issuance" {
                plan.issuanceSizes = []
                plan.scalingSize = 0
                plan.postgresIssuanceSize = 0
            }
            if only != "lookup" { plan.lookupSizes = [] }
            if only != "crl" { plan.crlSizes = [] }
            if only != "supply-chain" {
                plan.supplyChainDevices = 0
                plan.softHSMDevices = 0
            }
            if only != "ocsp" { plan.ocspKnownSerials = 0 }
            if only != "est" { plan.estInProcess = 0 }
        }
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        var rows: [BenchmarkRow] = []
        var skipped: [SkippedWorkload] = []
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let postgres = BenchPostgres.fromEnvironment()
        func emit(_ row: BenchmarkRow) {
            rows.append(row)
            let verdict = row.targetMet.map { $0 ? "  [target met]" : "  [TARGET MISSED: \(row.target ?? "")]" } ?? ""
            log(
                "  \(row.workload) [\(row.size)]: \(Report.format(row.figure)) \(row.unit) vs \(row.reference) "
                    + "\(Report.format(row.referenceFigure)) \(row.referenceUnit) -> ratio \(String(format: "%.2f", row.ratio))"
                    + ", peak RSS \(String(format: "%.0f", row.peakRSSMiB)) MiB" + verdict)
        }

        log("fleetkey-bench, \(plan.mode) mode")
        log("reference: raw ECDSA on one core (swift-crypto), \(plan.cryptoSeconds) s each")
        let crypto = CryptoReference.measure(seconds: plan.cryptoSeconds)
        log(
            "  P-256 sign \(Report.format(crypto.p256Sign))/s, verify \(Report.format(crypto.p256Verify))/s; "
                + "P-384 sign \(Report.format(crypto.p384Sign))/s, verify \(Report.format(crypto.p384Verify))/s; "
                + "issuance bound 1/(1/sign+1/verify) = \(Report.format(crypto.issuanceBound))/s per core")

        if only == "stages" {
            log("issuance stages, 2000 calls each")
            try await IssuanceStages.run(count: 2000, scratch: scratch) { log($0) }
            return
        }

        // Issuance, one worker, at each size: throughput and whether memory stays flat.
        var oneWorker: [Int: IssuanceWorkload.Result] = [:]
        for size in plan.issuanceSizes {
            log("issuance end to end, 1 worker, \(size) certificates")
            let result = try await IssuanceWorkload.run(count: size, workers: 1, scratch: scratch)
            oneWorker[size] = result
            emit(
                BenchmarkRow(
                    workload: "issuance end to end, 1 worker (SQLite)", size: "\(size) certs", figure: result.rate,
                    unit: "certs/s", reference: "1/(1/sign+1/verify) P-256, 1 core",
                    referenceFigure: crypto.issuanceBound,
                    referenceUnit: "/s", peakRSSMiB: result.peakMiB, target: "≥ 0.60 × reference",
                    targetMet: result.rate >= 0.6 * crypto.issuanceBound))
        }
        if let size = plan.issuanceSizes.first {
            log("issuance, 1 worker, \(size) certificates, in-memory registry (the core alone)")
            let core = try await IssuanceWorkload.run(count: size, workers: 1, scratch: scratch, registry: .memory)
            emit(
                BenchmarkRow(
                    workload: "issuance, 1 worker, in-memory registry (core alone, diagnostic)", size: "\(size) certs",
                    figure: core.rate, unit: "certs/s", reference: "1/(1/sign+1/verify) P-256, 1 core",
                    referenceFigure: crypto.issuanceBound, referenceUnit: "/s", peakRSSMiB: core.peakMiB))
        }
        if let small = plan.issuanceSizes.first, let large = plan.issuanceSizes.last, small != large,
            let first = oneWorker[small], let last = oneWorker[large]
        {
            emit(
                BenchmarkRow(
                    workload: "issuance peak memory vs size", size: "\(small) → \(large) certs", figure: last.peakMiB,
                    unit: "MiB", reference: "peak at \(small) certs", referenceFigure: first.peakMiB,
                    referenceUnit: "MiB",
                    lowerIsBetter: true, peakRSSMiB: last.peakMiB, target: "does not grow (≤ 1.25× + 8 MiB)",
                    targetMet: last.peakMiB <= first.peakMiB * 1.25 + 8))
        }

        if plan.scalingSize > 0 {
            log("issuance end to end, 2 workers, \(plan.scalingSize) certificates")
            let two = try await IssuanceWorkload.run(count: plan.scalingSize, workers: 2, scratch: scratch)
            let oneAtScale = oneWorker[plan.scalingSize]?.rate ?? oneWorker.values.first!.rate
            emit(
                BenchmarkRow(
                    workload: "issuance end to end, 2 workers (SQLite), per core", size: "\(plan.scalingSize) certs",
                    figure: two.rate / 2, unit: "certs/s/core", reference: "1/(1/sign+1/verify) P-256, 1 core",
                    referenceFigure: crypto.issuanceBound, referenceUnit: "/s", peakRSSMiB: two.peakMiB,
                    target: "≥ 0.60 × reference", targetMet: two.rate / 2 >= 0.6 * crypto.issuanceBound))
            log("issuance end to end, 4 workers, \(plan.scalingSize) certificates")
            let four = try await IssuanceWorkload.run(count: plan.scalingSize, workers: 4, scratch: scratch)
            emit(
                BenchmarkRow(
                    workload: "issuance end to end, 4 workers on \(cores) cores (SQLite), per core",
                    size: "\(plan.scalingSize) certs",
                    figure: four.rate / Double(min(4, cores)), unit: "certs/s/core",
                    reference: "1/(1/sign+1/verify) P-256, 1 core",
                    referenceFigure: crypto.issuanceBound, referenceUnit: "/s", peakRSSMiB: four.peakMiB,
                    note: "\(Report.format(four.rate)) certs/s in all"))
            log("issuance end to end, 16 concurrent requests on 2 cores, \(plan.scalingSize) certificates")
            let sixteen = try await IssuanceWorkload.run(count: plan.scalingSize, workers: 16, scratch: scratch)
            emit(
                BenchmarkRow(
                    workload: "issuance end to end, 16 in flight on 2 cores (SQLite group commit), per core",
                    size: "\(plan.scalingSize) certs", figure: sixteen.rate / 2, unit: "certs/s/core",
                    reference: "1/(1/sign+1/verify) P-256, 1 core", referenceFigure: crypto.issuanceBound,
                    referenceUnit: "/s",
                    peakRSSMiB: sixteen.peakMiB, target: "≥ 0.60 × reference",
                    targetMet: sixteen.rate / 2 >= 0.6 * crypto.issuanceBound))
            emit(
                BenchmarkRow(
                    workload: "issuance scaling, 2 workers vs 1", size: "\(plan.scalingSize) certs", figure: two.rate,
                    unit: "certs/s", reference: "1 worker, same run", referenceFigure: oneAtScale,
                    referenceUnit: "certs/s",
                    peakRSSMiB: two.peakMiB, target: "≥ 1.6 × reference", targetMet: two.rate >= 1.6 * oneAtScale))
        }

        if plan.postgresIssuanceSize > 0 {
            switch postgres {
            case .unavailable(let reason):
                skipped.append(
                    SkippedWorkload(
                        workload: "issuance on PostgreSQL, 1, 2 and 4 workers", reason: "PostgreSQL: \(reason)"))
            case .available(let server):
                let size = plan.postgresIssuanceSize
                var oneWorkerRate: Double?
                for workers in [1, 2, 4] {
                    log("issuance end to end on PostgreSQL, \(workers) worker(s), \(size) certificates")
                    let database = "bench_issuance_\(workers)"
                    do {
                        let location = try server.freshDatabase(database)
                        defer { server.dropDatabase(database) }
                        let result = try await IssuanceWorkload.run(
                            count: size, workers: workers, scratch: scratch, registry: .postgres(location))
                        if workers == 1 { oneWorkerRate = result.rate }
                        let busyCores = Double(min(workers, cores))
                        let scaling =
                            oneWorkerRate.map { ", \(String(format: "%.2f", result.rate / $0))× the 1-worker rate" }
                            ?? ""
                        emit(
                            BenchmarkRow(
                                workload: workers == 1
                                    ? "issuance end to end, 1 worker (PostgreSQL, same machine)"
                                    : "issuance end to end, \(workers) workers on \(cores) cores (PostgreSQL, same machine), per core",
                                size: "\(size) certs", figure: result.rate / busyCores,
                                unit: workers == 1 ? "certs/s" : "certs/s/core",
                                reference: "1/(1/sign+1/verify) P-256, 1 core",
                                referenceFigure: crypto.issuanceBound, referenceUnit: "/s", peakRSSMiB: result.peakMiB,
                                note: "\(Report.format(result.rate)) certs/s in all\(workers == 1 ? "" : scaling); "
                                    + "the server shares the cores and commits each issuance (fsync) before it is returned"
                            ))
                    } catch {
                        log("  failed: \(error)")
                        skipped.append(
                            SkippedWorkload(
                                workload: "issuance on PostgreSQL, \(workers) worker(s)",
                                reason: "failed in this run: \(error)"))
                    }
                }
            }
        }

        for size in plan.lookupSizes {
            log("registry lookup by serial at \(size) devices (\(plan.lookups) lookups)")
            let result = try await RegistryLookupWorkload.run(devices: size, lookups: plan.lookups, scratch: scratch) {
                log($0)
            }
            emit(
                BenchmarkRow(
                    workload: "registry bulk load, devices + keys (SQLite, direct SQL)", size: "\(size) devices",
                    figure: result.loadRate, unit: "devices/s", reference: "bare-table insert, same database",
                    referenceFigure: result.bareInsertRate, referenceUnit: "rows/s", peakRSSMiB: result.loadPeakMiB,
                    target: "≥ 100,000 devices/s", targetMet: result.loadRate >= 100_000))
            emit(
                BenchmarkRow(
                    workload: "registry lookup by serial, p50 (SQLite, in process)", size: "\(size) devices",
                    figure: result.p50, unit: "µs", reference: "rowid point query p50",
                    referenceFigure: result.rowidP50,
                    referenceUnit: "µs", lowerIsBetter: true, peakRSSMiB: result.lookupPeakMiB))
            emit(
                BenchmarkRow(
                    workload: "registry lookup by serial, p99 (SQLite, in process)", size: "\(size) devices",
                    figure: result.p99, unit: "µs", reference: "rowid point query p99",
                    referenceFigure: result.rowidP99,
                    referenceUnit: "µs", lowerIsBetter: true, peakRSSMiB: result.lookupPeakMiB, target: "p99 < 50 µs",
                    targetMet: result.p99 < 50))
            emit(
                BenchmarkRow(
                    workload: "registry lookups by serial per second, 1 thread (SQLite, in process)",
                    size: "\(size) devices",
                    figure: result.lookupRate, unit: "lookups/s", reference: "rowid point queries, 1 thread",
                    referenceFigure: result.rowidRate, referenceUnit: "/s", peakRSSMiB: result.lookupPeakMiB))

            guard case .available(let server) = postgres else { continue }
            log("registry lookup by serial on PostgreSQL at \(size) devices (\(plan.lookups) lookups)")
            do {
                let pg = try await PostgresLookupWorkload.run(
                    devices: size, lookups: plan.lookups, postgres: server, scratch: scratch
                ) { log($0) }
                let clients = PostgresLookupWorkload.concurrentClients
                emit(
                    BenchmarkRow(
                        workload: "registry bulk load, devices + keys (PostgreSQL, INSERT … SELECT generate_series)",
                        size: "\(size) devices", figure: pg.loadRate, unit: "devices/s",
                        reference: "bare-table insert, same database", referenceFigure: pg.bareInsertRate,
                        referenceUnit: "rows/s", peakRSSMiB: 0, note: "load runs in the server; peak RSS not measured"))
                emit(
                    BenchmarkRow(
                        workload: "registry lookup by serial, p50 (PostgreSQL, loopback, 1 client)",
                        size: "\(size) devices",
                        figure: pg.p50, unit: "µs", reference: "pgbench primary-key point query p50, 1 client",
                        referenceFigure: pg.reference.p50Microseconds, referenceUnit: "µs", lowerIsBetter: true,
                        peakRSSMiB: pg.peakMiB))
                emit(
                    BenchmarkRow(
                        workload: "registry lookup by serial, p99 (PostgreSQL, loopback, 1 client)",
                        size: "\(size) devices",
                        figure: pg.p99, unit: "µs", reference: "pgbench primary-key point query p99, 1 client",
                        referenceFigure: pg.reference.p99Microseconds, referenceUnit: "µs", lowerIsBetter: true,
                        peakRSSMiB: pg.peakMiB))
                emit(
                    BenchmarkRow(
                        workload: "registry lookups by serial per second, 1 client (PostgreSQL, loopback)",
                        size: "\(size) devices", figure: pg.lookupRate, unit: "lookups/s",
                        reference: "pgbench primary-key point queries, 1 client",
                        referenceFigure: pg.reference.transactionsPerSecond, referenceUnit: "/s", peakRSSMiB: pg.peakMiB
                    ))
                emit(
                    BenchmarkRow(
                        workload: "registry lookups by serial per second, \(clients) concurrent (PostgreSQL, loopback)",
                        size: "\(size) devices", figure: pg.concurrentRate, unit: "lookups/s",
                        reference: "pgbench primary-key point queries, \(clients) clients",
                        referenceFigure: pg.concurrentReference.transactionsPerSecond, referenceUnit: "/s",
                        peakRSSMiB: pg.peakMiB))
            } catch {
                log("  failed: \(error)")
                skipped.append(
                    SkippedWorkload(
                        workload: "registry lookups on PostgreSQL at \(size) devices",
                        reason: "failed in this run: \(error)"))
            }
        }
        if !plan.lookupSizes.isEmpty, case .unavailable(let reason) = postgres {
            skipped.append(
                SkippedWorkload(workload: "registry load and lookups on PostgreSQL", reason: "PostgreSQL: \(reason)"))
        }

        for size in plan.crlSizes {
            log("CRL generation, \(size) revoked entries, beside openssl ca -gencrl")
            let result = try await CRLWorkload.run(entries: size, scratch: scratch, withOpenSSL: true)
            let milliseconds = result.fleetkeySeconds * 1000
            var target: String?
            var met: Bool?
            if size >= 1_000_000 {
                target = "≥ 5× faster than openssl, < 300 MB"
                met = (result.opensslSeconds ?? 0) >= 5 * result.fleetkeySeconds && result.peakMiB < 300
            } else if size == 10_000 {
                target = "< 20 ms for a 10^4-entry partition"
                met = milliseconds < 20
            }
            emit(
                BenchmarkRow(
                    workload: "CRL generation: build, sign, DER (P-256 vendor CA)", size: "\(size) entries",
                    figure: milliseconds,
                    unit: "ms", reference: "openssl ca -gencrl, same entries",
                    referenceFigure: (result.opensslSeconds ?? .nan) * 1000,
                    referenceUnit: "ms", lowerIsBetter: true, peakRSSMiB: result.peakMiB, target: target,
                    targetMet: met,
                    note: "CRL of \(result.bytes / 1024) KiB"))
        }

        if plan.ocspKnownSerials > 0 {
            log("OCSP over HTTP/1.1 keep-alive (wrk -t1 -c32), \(plan.ocspKnownSerials) known serials")
            let ocsp = try await OCSPWorkload.run(
                knownSerials: plan.ocspKnownSerials, distinctQueries: 1000, seconds: plan.ocspSeconds, scratch: scratch
            ) { log($0) }
            let sizeText = "\(plan.ocspKnownSerials) serials"
            emit(
                BenchmarkRow(
                    workload: "OCSP responses, pre-signed, vs openssl ocsp", size: sizeText, figure: ocsp.rate,
                    unit: "responses/s",
                    reference: "openssl ocsp -index -port -multi \(cores) (ab, same concurrency)",
                    referenceFigure: ocsp.opensslRate ?? .nan, referenceUnit: "responses/s",
                    peakRSSMiB: ocsp.peakMiB, target: "≥ 5 × openssl",
                    targetMet: ocsp.opensslRate.map { ocsp.rate >= 5 * $0 } ?? false,
                    note: ocsp.opensslNote))
            emit(
                BenchmarkRow(
                    workload: "OCSP responses vs trivial route, same server", size: sizeText, figure: ocsp.rate,
                    unit: "responses/s",
                    reference: "GET /trivial, same server and wrk", referenceFigure: ocsp.trivialRate,
                    referenceUnit: "responses/s",
                    peakRSSMiB: ocsp.peakMiB, target: "≥ 0.50 × trivial route",
                    targetMet: ocsp.rate >= 0.5 * ocsp.trivialRate))
            emit(
                BenchmarkRow(
                    workload: "OCSP latency p99 under that load", size: sizeText, figure: ocsp.p99Milliseconds,
                    unit: "ms",
                    reference: "target", referenceFigure: 2, referenceUnit: "ms", lowerIsBetter: true,
                    peakRSSMiB: ocsp.peakMiB,
                    target: "p99 < 2 ms", targetMet: ocsp.p99Milliseconds < 2))
        }

        if plan.estInProcess > 0 {
            let levels = plan.estLevels.sorted { $0.key < $1.key }.map { (concurrency: $0.key, devices: $0.value) }
            log("EST enrollment over TLS (device SDK, emulated elements) at concurrency \(levels.map(\.concurrency))")
            let est = try await ESTWorkload.run(inProcess: plan.estInProcess, levels: levels, scratch: scratch)
            for level in est.levels {
                let size = "concurrency \(level.concurrency), \(level.devices) devices"
                emit(
                    BenchmarkRow(
                        workload: "EST simpleenroll over TLS vs in-process enrollment", size: size, figure: level.rate,
                        unit: "enrollments/s", reference: "the same rules in process, no TLS (\(plan.estInProcess))",
                        referenceFigure: est.inProcessRate, referenceUnit: "enrollments/s", peakRSSMiB: est.peakMiB,
                        target: "≥ 0.5 × in-process", targetMet: level.rate >= 0.5 * est.inProcessRate,
                        note: String(
                            format: "p50 %.1f ms, p99 %.1f ms; client and server share the cores",
                            level.p50Milliseconds, level.p99Milliseconds)))
                emit(
                    BenchmarkRow(
                        workload: "EST simpleenroll over TLS vs TLS handshake with client certificate", size: size,
                        figure: level.rate, unit: "enrollments/s",
                        reference: "GET /cacerts on the same server, client certificate, same concurrency",
                        referenceFigure: level.handshakeRate, referenceUnit: "requests/s", peakRSSMiB: est.peakMiB))
                if level.concurrency == 64 {
                    emit(
                        BenchmarkRow(
                            workload: "EST simpleenroll latency p99", size: size, figure: level.p99Milliseconds,
                            unit: "ms", reference: "target", referenceFigure: 50, referenceUnit: "ms",
                            lowerIsBetter: true, peakRSSMiB: est.peakMiB, target: "p99 < 50 ms at concurrency 64",
                            targetMet: level.p99Milliseconds < 50))
                }
            }
        }

        if plan.supplyChainDevices > 0 {
            let (supplyRows, supplySkipped) = try await supplyChain(plan: plan, crypto: crypto, scratch: scratch)
            supplyRows.forEach(emit)
            skipped += supplySkipped
        }
        for skip in skipped { log("skipped: \(skip.workload): \(skip.reason)") }

        guard only == nil else {
            log("partial run (--only \(only!)): results not written")
            return
        }
        let report = Report(
            generatedAt: Date(), mode: plan.mode, command: command, machine: machine(crypto: crypto), rows: rows,
            skipped: skipped)
        try report.writeJSON(to: jsonPath)
        try report.markdown().write(toFile: markdownPath, atomically: true, encoding: .utf8)
        log("wrote \(jsonPath) and \(markdownPath)")
    }

    /// Factory provisioning (emulated elements, then SoftHSM2) and the lot's manifest exported and imported, beside
    /// the raw P-256 rates of this run. --quick runs 10^4 devices (--full: 10^5, the issue's manifest size).
    static func supplyChain(plan: Plan, crypto: CryptoReference, scratch: URL) async throws
        -> ([BenchmarkRow], [SkippedWorkload])
    {
        var rows: [BenchmarkRow] = []
        var skipped: [SkippedWorkload] = []
        func emit(_ row: BenchmarkRow) { rows.append(row) }
        let devices =
            ProcessInfo.processInfo.environment["FLEETKEY_BENCH_SUPPLY_DEVICES"].flatMap(Int.init)
            ?? plan.supplyChainDevices
        let bound = 1 / (3 / crypto.p256Sign + 2 / crypto.p256Verify)
        let world = try await SupplyChainWorkload.makeWorld(in: scratch.appendingPathComponent("supply-chain"))
        defer { try? FileManager.default.removeItem(at: world.directory) }
        log("factory provisioning, \(devices) devices into emulated secure elements (files)")
        // The emulated chips' storage: memory (/dev/shm) when there is some, as a secure element's own storage is
        // not the factory server's disk (on ext4, creating an inode per state write dominated the run).
        let shm = URL(fileURLWithPath: "/dev/shm", isDirectory: true)
        let chips = (FileManager.default.isWritableFile(atPath: shm.path) ? shm : world.directory)
            .appendingPathComponent("fleetkey-bench-elements-\(ProcessInfo.processInfo.processIdentifier)")
        defer { try? FileManager.default.removeItem(at: chips) }
        let emulated = try await SupplyChainWorkload.provision(
            world, lot: "EMU", count: devices, elements: EmulatedElementSource(directory: chips))
        emit(
            BenchmarkRow(
                workload: "factory provisioning, emulated secure elements", size: "\(devices) devices",
                figure: emulated.rate, unit: "devices/s",
                reference: "P-256 bound: 1/(3/sign + 2/verify), one core", referenceFigure: bound,
                referenceUnit: "devices/s", peakRSSMiB: emulated.peakMiB,
                note: "keygen, request, issue, write back, lock, attest, verify, two registry transactions per device; "
                    + "element files in \(chips.deletingLastPathComponent().path)"))

        let hsmDevices =
            ProcessInfo.processInfo.environment["FLEETKEY_BENCH_HSM_DEVICES"].flatMap(Int.init)
            ?? plan.softHSMDevices
        if hsmDevices > 0 {
            log("factory provisioning, \(hsmDevices) devices into SoftHSM2 elements")
            do {
                let token = try SupplyChainWorkload.softHSMToken(in: world.directory.appendingPathComponent("softhsm"))
                let hsm = try await SupplyChainWorkload.provision(
                    world, lot: "HSM", count: hsmDevices, elements: token)
                emit(
                    BenchmarkRow(
                        workload: "factory provisioning, SoftHSM2 secure elements", size: "\(hsmDevices) devices",
                        figure: hsm.rate, unit: "devices/s",
                        reference: "P-256 bound: 1/(3/sign + 2/verify), one core", referenceFigure: bound,
                        referenceUnit: "devices/s", peakRSSMiB: hsm.peakMiB,
                        note: "every element of the lot on one token, one login: SoftHSM2's file store rereads every "
                            + "object of the token on each search, so the rate falls as the lot grows (a real line has "
                            + "one element per chip)"))
            } catch {
                log("  failed: \(error)")
                skipped.append(
                    SkippedWorkload(workload: "factory provisioning, SoftHSM2", reason: "failed in this run: \(error)"))
            }
        }

        log("manifest export and import, \(devices) devices")
        let exported = try await SupplyChainWorkload.export(world, lot: "EMU")
        emit(
            BenchmarkRow(
                workload: "manifest export (CMS SignedData, JSON content)", size: "\(devices) devices",
                figure: exported.rate, unit: "devices/s",
                reference: "raw P-256 sign, one core", referenceFigure: crypto.p256Sign, referenceUnit: "signatures/s",
                peakRSSMiB: exported.peakMiB,
                note: "one signature per manifest; \(exported.bytes.count / 1_048_576) MiB manifest"))
        let imported = try await SupplyChainWorkload.importManifest(world, manifest: exported.bytes, devices: devices)
        emit(
            BenchmarkRow(
                workload: "manifest import into a new owner's registry", size: "\(devices) devices",
                figure: imported.rate, unit: "devices/s",
                reference: "raw P-256 verify / 2, one core", referenceFigure: crypto.p256Verify / 2,
                referenceUnit: "devices/s", peakRSSMiB: imported.peakMiB,
                note: "two verifications per device (certificate, attestation), spread over the cores; one transaction")
        )
        return (rows, skipped)
    }

    static func log(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func machine(crypto: CryptoReference) -> [String: String] {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let cpu =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }.map {
                $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
            } ?? "unknown CPU"
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return [
            "cpu": cpu,
            "cores": "\(ProcessInfo.processInfo.activeProcessorCount)",
            "memory": String(format: "%.0f GiB", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824),
            "kernel": "Linux \(kernel)",
            "commit": ProcessInfo.processInfo.environment["FLEETKEY_BENCH_COMMIT"] ?? "uncommitted",
            "p256SignPerSecond": Report.format(crypto.p256Sign),
            "p256VerifyPerSecond": Report.format(crypto.p256Verify),
            "p384SignPerSecond": Report.format(crypto.p384Sign),
            "p384VerifyPerSecond": Report.format(crypto.p384Verify),
        ]
    }
}
