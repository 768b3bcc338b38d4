import FleetkeyCore
import Foundation
import Synchronization

/// A registry held in memory, with the same uniqueness and optimistic-concurrency rules as the real stores.
///
/// For unit tests of the core and for quick experiments; it keeps nothing across processes.
public final class InMemoryRegistry: RegistryStore {
    struct State {
        var authorities: [String: AuthorityRecord] = [:]
        var vendors: [VendorName: VendorRecord] = [:]
        var keys: [String: KeyRecord] = [:]
        var devices: [DeviceID: DeviceRecord] = [:]
        var certificates: [String: CertificateRecord] = [:]  // issuer/serial
        var events: [LifecycleEvent] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func createRoot(_ root: AuthorityRecord, certificate: CertificateRecord, key: KeyRecord, events: [LifecycleEvent])
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
            var next = state
            next.keys[issuance.key.fingerprint] = next.keys[issuance.key.fingerprint] ?? issuance.key
            if let change = issuance.device {
                let current = next.devices[change.device.id]
                guard current?.state == change.expectedState else {
                    throw FleetkeyError(.conflict, "device \(change.device.id) changed concurrently")
                }
                next.devices[change.device.id] = change.device
            }
            try Self.insert(issuance.certificate, into: &next)
            Self.append(issuance.events, to: &next)
            state = next
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
        state.withLock { $0.certificates.values.filter { $0.serial == serial.uppercased() }.sorted { $0.issuer < $1.issuer } }
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
                (filter.vendor == nil || $0.id.vendor == filter.vendor) && (filter.state == nil || $0.state == filter.state)
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

    private static func insert(_ certificate: CertificateRecord, into state: inout State) throws {
        let key = "\(certificate.issuer)/\(certificate.serial)"
        guard state.certificates[key] == nil else {
            throw DuplicateSerialError(issuer: certificate.issuer, serial: certificate.serial)
        }
        state.certificates[key] = certificate
    }

    private static func append(_ events: [LifecycleEvent], to state: inout State) {
        for var event in events {
            event.sequence = Int64(state.events.count + 1)
            state.events.append(event)
        }
    }
}
