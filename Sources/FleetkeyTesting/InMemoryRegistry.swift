import FleetkeyCore
import Foundation
import Synchronization

/// A registry held in memory, with the same uniqueness and optimistic-concurrency rules as the real stores.
///
/// For unit tests of the core and for quick experiments; it keeps nothing across processes.
public final class InMemoryRegistry: RegistryStore, RevocationStore {
    struct State {
        var authorities: [String: AuthorityRecord] = [:]
        var vendors: [VendorName: VendorRecord] = [:]
        var keys: [String: KeyRecord] = [:]
        var devices: [DeviceID: DeviceRecord] = [:]
        var certificates: [String: CertificateRecord] = [:]  // issuer/serial
        var events: [LifecycleEvent] = []
        var crls: [String: PublishedCRL] = [:]  // issuer/partition
        var lots: [String: Date] = [:]  // vendor/lot
        var owners: [String: OwnerRecord] = [:]
        var manifests: [String: ImportedManifest] = [:]  // digest
        var deviceByKey: [String: DeviceID] = [:]  // key fingerprint
    }

    let state = Mutex(State())

    public init() {}

    public func createRoot(
        _ root: AuthorityRecord, certificate: CertificateRecord, key: KeyRecord, events: [LifecycleEvent]
    )
        async throws
    {
        try state.withLock { state in
            guard !state.authorities.values.contains(where: { $0.kind == .root }) else {
                throw FleetkeyError(.alreadyExists, "this registry already has a root CA")
            }
            var next = state
            next.authorities[root.id] = root
            next.keys[key.fingerprint] = next.keys[key.fingerprint] ?? key
            try Self.insert(certificate, into: &next)
            Self.append(events, to: &next)
            state = next
        }
    }

    public func addVendor(
        _ vendor: VendorRecord, authority: AuthorityRecord, certificates: [CertificateRecord], keys: [KeyRecord],
        events: [LifecycleEvent]
    ) async throws {
        try state.withLock { state in
            guard state.vendors[vendor.name] == nil, state.authorities[authority.id] == nil else {
                throw FleetkeyError(.alreadyExists, "vendor '\(vendor.name)' already exists")
            }
            var next = state
            next.authorities[authority.id] = authority
            next.vendors[vendor.name] = vendor
            for key in keys { next.keys[key.fingerprint] = next.keys[key.fingerprint] ?? key }
            for certificate in certificates { try Self.insert(certificate, into: &next) }
            Self.append(events, to: &next)
            state = next
        }
    }

    public func record(_ issuance: IssuanceUnit) async throws {
        try state.withLock { state in
            // Check everything first, then mutate in place: copying the state would make each record O(registry).
            if let change = issuance.device {
                guard state.devices[change.device.id]?.state == change.expectedState else {
                    throw FleetkeyError(.conflict, "device \(change.device.id) changed concurrently")
                }
                try Self.checkKey(of: change.device, in: state)
            }
            let key = "\(issuance.certificate.issuer)/\(issuance.certificate.serial)"
            guard state.certificates[key] == nil else {
                throw DuplicateSerialError(issuer: issuance.certificate.issuer, serial: issuance.certificate.serial)
            }
            if state.keys[issuance.key.fingerprint] == nil { state.keys[issuance.key.fingerprint] = issuance.key }
            if let change = issuance.device {
                Self.put(change.device, into: &state)
            }
            state.certificates[key] = issuance.certificate
            Self.append(issuance.events, to: &state)
        }
    }

    public func authority(id: String) async throws -> AuthorityRecord? { state.withLock { $0.authorities[id] } }
    public func vendor(named name: VendorName) async throws -> VendorRecord? { state.withLock { $0.vendors[name] } }
    public func vendors() async throws -> [VendorRecord] {
        state.withLock { $0.vendors.values.sorted { $0.name < $1.name } }
    }

    public func certificate(issuer: String, serial: String) async throws -> CertificateRecord? {
        state.withLock { $0.certificates["\(issuer)/\(serial.uppercased())"] }
    }

    public func certificates(serial: String) async throws -> [CertificateRecord] {
        state.withLock {
            $0.certificates.values.filter { $0.serial == serial.uppercased() }.sorted { $0.issuer < $1.issuer }
        }
    }

    public func certificates(forDevice device: DeviceID) async throws -> [CertificateRecord] {
        state.withLock { $0.certificates.values.filter { $0.device == device }.sorted { $0.issuedAt < $1.issuedAt } }
    }

    public func certificateCount(issuer: String?) async throws -> Int {
        state.withLock { state in state.certificates.values.filter { issuer == nil || $0.issuer == issuer }.count }
    }

    public func device(_ id: DeviceID) async throws -> DeviceRecord? { state.withLock { $0.devices[id] } }

    public func devices(serial: DeviceSerial) async throws -> [DeviceRecord] {
        state.withLock { $0.devices.values.filter { $0.id.serial == serial }.sorted { $0.id.vendor < $1.id.vendor } }
    }

    public func devices(matching filter: DeviceFilter) async throws -> [DeviceRecord] {
        let all = state.withLock { state in
            state.devices.values.filter {
                (filter.vendor == nil || $0.id.vendor == filter.vendor)
                    && (filter.state == nil || $0.state == filter.state)
                    && (filter.lot == nil || $0.lot == filter.lot)
            }
        }
        let sorted = all.sorted { ($0.id.vendor, $0.id.serial) < ($1.id.vendor, $1.id.serial) }
        return Array(sorted.prefix(filter.limit ?? sorted.count))
    }

    public func events(subject: String?, limit: Int?) async throws -> [LifecycleEvent] {
        let matching = state.withLock { state in state.events.filter { subject == nil || $0.subject == subject } }
        return Array(matching.prefix(limit ?? matching.count))
    }

    // MARK: RevocationStore

    public func certificateRefs(_ scope: CertificateScope) async throws -> [CertificateRef] {
        state.withLock { state in
            state.certificates.values.filter { certificate in
                switch scope {
                case .certificate(let issuer, let serial):
                    return certificate.serial == serial.uppercased() && (issuer == nil || certificate.issuer == issuer)
                case .device(let id): return certificate.device == id
                case .deviceSerial(let serial): return certificate.device?.serial == serial
                case .lot(let vendor, let name):
                    guard let id = certificate.device, let device = state.devices[id] else { return false }
                    return device.lot == name && (vendor == nil || id.vendor == vendor)
                case .issuer(let issuer): return certificate.issuer == issuer
                }
            }
            .sorted { ($0.issuer, $0.serial) < ($1.issuer, $1.serial) }
            .map { certificate in
                CertificateRef(
                    issuer: certificate.issuer, serial: certificate.serial, profile: certificate.profile,
                    device: certificate.device, deviceState: certificate.device.flatMap { state.devices[$0]?.state },
                    status: certificate.status, revocation: certificate.revocation)
            }
        }
    }

    public func apply(_ revocation: RevocationUnit) async throws {
        try state.withLock { state in
            var next = state
            for key in revocation.certificates {
                let id = "\(key.issuer)/\(key.serial)"
                guard var certificate = next.certificates[id], certificate.status == .valid else {
                    throw FleetkeyError(.conflict, "certificate \(id) is no longer valid")
                }
                certificate.status = .revoked
                certificate.revocation = revocation.info
                next.certificates[id] = certificate
            }
            for transition in revocation.devices {
                guard var device = next.devices[transition.device], device.state == transition.from else {
                    throw FleetkeyError(.conflict, "device \(transition.device) changed concurrently")
                }
                device.state = transition.to
                device.updatedAt = revocation.info.revokedAt
                next.devices[transition.device] = device
            }
            if let vendor = revocation.vendor { next.vendors[vendor]?.state = .revoked }
            Self.append(revocation.events, to: &next)
            state = next
        }
    }

    public func revokedEntries(issuer: String) async throws -> [RevokedCertificate] {
        state.withLock { state in
            state.certificates.values.filter { $0.issuer == issuer && $0.status == .revoked }.sorted {
                $0.serial < $1.serial
            }
            .map {
                RevokedCertificate(
                    serial: Hex.decode($0.serial) ?? [], revocationDate: $0.revocation?.revokedAt ?? $0.issuedAt,
                    reason: $0.revocation?.reason, invalidityDate: $0.revocation?.invalidityDate)
            }
        }
    }

    public func latestCRL(issuer: String, partition: Int) async throws -> PublishedCRL? {
        state.withLock { $0.crls["\(issuer)/\(partition)"] }
    }

    public func publish(_ crl: PublishedCRL) async throws -> Bool {
        state.withLock { state in
            let key = "\(crl.issuer)/\(crl.partition)"
            guard (state.crls[key]?.number ?? 0) < crl.number else { return false }
            state.crls[key] = crl
            return true
        }
    }

    public func revocations(after sequence: Int64, limit: Int) async throws -> [RevocationNotice] {
        state.withLock { state in
            Array(
                state.events.filter { $0.action == "certificate.revoked" && ($0.sequence ?? 0) > sequence }.prefix(
                    limit
                )
                .compactMap { RevocationNotice(sequence: $0.sequence ?? 0, eventSubject: $0.subject) })
        }
    }

    public func keyRecord(fingerprint: String) async throws -> KeyRecord? {
        state.withLock { $0.keys[fingerprint] }
    }

    public func lastEventSequence() async throws -> Int64 {
        state.withLock { Int64($0.events.count) }
    }

    /// One key, one device, as the real stores' unique index devices_by_key has it.
    static func checkKey(of device: DeviceRecord, in state: State) throws {
        if let holder = state.deviceByKey[device.keyFingerprint], holder != device.id {
            throw FleetkeyError.keyHeldByAnotherDevice(device)
        }
    }

    /// Stores a device row with its key index and its lot.
    static func put(_ device: DeviceRecord, into state: inout State) {
        if let previous = state.devices[device.id], previous.keyFingerprint != device.keyFingerprint {
            state.deviceByKey[previous.keyFingerprint] = nil
        }
        state.devices[device.id] = device
        state.deviceByKey[device.keyFingerprint] = device.id
        noteLot(of: device, in: &state)
    }

    static func noteLot(of device: DeviceRecord, in state: inout State) {
        if let lot = device.lot, state.lots["\(device.id.vendor)/\(lot)"] == nil {
            state.lots["\(device.id.vendor)/\(lot)"] = device.updatedAt
        }
    }

    static func insert(_ certificate: CertificateRecord, into state: inout State) throws {
        let key = "\(certificate.issuer)/\(certificate.serial)"
        guard state.certificates[key] == nil else {
            throw DuplicateSerialError(issuer: certificate.issuer, serial: certificate.serial)
        }
        state.certificates[key] = certificate
    }

    static func append(_ events: [LifecycleEvent], to state: inout State) {
        for var event in events {
            event.sequence = Int64(state.events.count + 1)
            state.events.append(event)
        }
    }
}
