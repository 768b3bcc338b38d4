import Crypto
import FleetkeyCore
import FleetkeySQLite
import FleetkeyTesting
import Foundation
import X509

/// Where the time of one issuance goes, stage by stage, measured synchronously on one core (`--only stages`).
///
/// A diagnostic for the issuance workload: each stage runs `count` times in a row and reports µs per call.
enum IssuanceStages {
    static func run(count: Int, scratch: URL, log: @Sendable (String) -> Void) async throws {
        let registry = try SQLiteRegistry(path: scratch.appendingPathComponent("stages.sqlite").path)
        defer {
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(
                    atPath: scratch.appendingPathComponent("stages.sqlite").path + suffix)
            }
        }
        let world = try await ThrowawayEcosystem.make(vendors: ["Acme"], store: registry, now: Date())
        let authority = try await world.ecosystem.vendorAuthority(try VendorName("Acme"))
        let policy = world.ecosystem.policy
        var requests: [[UInt8]] = []
        for index in 0..<count {
            requests.append(try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "S-\(index)").der)
        }
        func time(_ name: String, _ body: (Int) throws -> Void) rethrows {
            let start = DispatchTime.now().uptimeNanoseconds
            for index in 0..<count { try body(index) }
            log(
                "    \(name): \(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - start) / Double(count) / 1000)) µs"
            )
        }
        let csrs = try requests.map { try policy.decodeRequest($0, profile: "device-identity", at: Date()) }
        try time("decode request") {
            _ = try policy.decodeRequest(requests[$0], profile: "device-identity", at: Date())
        }
        time("verify request signature") { _ = csrs[$0].publicKey.isValidSignature(csrs[$0].signature, for: csrs[$0]) }
        let builder = DraftBuilder(policy: policy)
        let generator = SerialNumberGenerator(random: SystemRandomSource())
        let subjects = try csrs.map { try SubjectName($0.subject, field: "s") }
        var drafts: [CertificateDraft] = []
        try time("build draft") { index in
            drafts.append(
                try builder.draft(
                    .init(profileName: "device-identity", subject: subjects[index], publicKey: csrs[index].publicKey),
                    issuer: authority.info, issuerKey: authority.keySpec, serial: generator.next(), now: Date()))
        }
        let linter = ProfileLinter(policy: policy)
        time("lint draft") { _ = linter.lint(drafts[$0], issuer: authority.info, now: Date()) }
        var certificates: [Certificate] = []
        try time("lint + sign") { certificates.append(try authority.issue(drafts[$0], now: Date())) }
        try time("certificate DER") { _ = try certificates[$0].derBytes() }
        time("SPKI DER + SHA-256") { _ = SHA256.hash(data: csrs[$0].publicKey.subjectPublicKeyInfoDER) }
        let start = DispatchTime.now().uptimeNanoseconds
        for index in 0..<count {
            _ = try await (registry as any RegistryStore).device(
                DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial("X-\(index)")))
        }
        log(
            "    registry device read (async): \(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - start) / Double(count) / 1000)) µs"
        )
        var units: [IssuanceUnit] = []
        let now = Date()
        for (index, certificate) in certificates.enumerated() {
            let spki = certificate.publicKey.subjectPublicKeyInfoDER
            let key = KeyRecord(
                fingerprint: KeyRecord.fingerprint(ofSubjectPublicKeyInfo: spki), subjectPublicKeyInfo: spki,
                algorithm: .p256, custody: .external, location: nil, createdAt: now)
            let id = DeviceID(vendor: try VendorName("Acme"), serial: try DeviceSerial("R-\(index)"))
            let record = CertificateRecord(
                issuer: authority.id, serial: certificate.serialNumber.hexString, profile: "device-identity",
                subject: certificate.subject.description, notBefore: certificate.notValidBefore,
                notAfter: certificate.notValidAfter,
                keyFingerprint: key.fingerprint, device: id, der: try certificate.derBytes(), status: .valid,
                issuedAt: now, crlScope: .complete)
            let device = DeviceRecord(
                id: id, state: .provisioned, lot: "L", keyFingerprint: key.fingerprint, hardwareModule: nil,
                createdAt: now,
                updatedAt: now)
            let events = [EventAction.deviceRegistered, .certificateIssued, .deviceProvisioned].map {
                LifecycleEvent(at: now, actor: "bench", action: $0, subject: .device(id))
            }
            units.append(
                IssuanceUnit(
                    issuer: authority.issuing, certificate: record, key: key,
                    device: DeviceChange(device: device, expectedState: nil),
                    events: events))
        }
        let recordStart = DispatchTime.now().uptimeNanoseconds
        for unit in units { try await registry.record(unit) }
        log(
            "    registry record (async, one transaction each): \(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - recordStart) / Double(count) / 1000)) µs"
        )
        let whole = DispatchTime.now().uptimeNanoseconds
        for index in 0..<count {
            _ = try await world.ecosystem.issueDeviceIdentity(
                .init(csr: try ThrowawayEcosystem.deviceRequest(vendor: "Acme", serial: "W-\(index)").der),
                by: authority)
        }
        log(
            "    whole issuance incl. request generation (async): \(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - whole) / Double(count) / 1000)) µs"
        )
    }
}
