import FleetkeyCore
import Foundation
import Synchronization

extension InMemoryRegistry: SupplyChainStore {
    public func change(_ change: DeviceChange, events: [LifecycleEvent]) async throws {
        try state.withLock { state in
            try Self.check(change, in: state)
            Self.put(change.device, into: &state)
            Self.append(events, to: &state)
        }
    }

    public func addOwner(_ owner: OwnerRecord, events: [LifecycleEvent]) async throws {
        try state.withLock { state in
            guard state.owners[owner.name] == nil else {
                throw FleetkeyError(.alreadyExists, "owner '\(owner.name)' already exists in this registry")
            }
            state.owners[owner.name] = owner
            Self.append(events, to: &state)
        }
    }

    public func owner(named name: String) async throws -> OwnerRecord? { state.withLock { $0.owners[name] } }

    public func owners() async throws -> [OwnerRecord] {
        state.withLock { $0.owners.values.sorted { $0.name < $1.name } }
    }

    public func devices(withKeys fingerprints: [String]) async throws -> [DeviceRecord] {
        let wanted = Set(fingerprints)
        return state.withLock { $0.devices.values.filter { wanted.contains($0.keyFingerprint) } }
    }

    public func devices(ids: [DeviceID]) async throws -> [DeviceRecord] {
        state.withLock { state in ids.compactMap { state.devices[$0] } }
    }

    public func lotSummaries(lot: String) async throws -> [LotSummary] {
        state.withLock { state in
            state.lots.compactMap { key, createdAt -> LotSummary? in
                guard key.hasSuffix("/\(lot)"), let vendor = try? VendorName(String(key.dropLast(lot.count + 1))) else {
                    return nil
                }
                let devices = state.devices.values.filter { $0.id.vendor == vendor && $0.lot == lot }
                return LotSummary(
                    vendor: vendor, lot: lot, createdAt: createdAt,
                    devicesByState: Dictionary(grouping: devices, by: \.state).mapValues(\.count),
                    owners: Set(devices.compactMap(\.owner)).sorted())
            }.sorted { $0.vendor.value < $1.vendor.value }
        }
    }

    public func importedManifest(digest: String) async throws -> ImportedManifest? {
        state.withLock { $0.manifests[digest] }
    }

    public func importManifest(_ unit: ManifestImportUnit) async throws -> Bool {
        try state.withLock { state in
            guard state.manifests[unit.manifest.digest] == nil else { return false }
            guard state.owners[unit.manifest.owner] != nil else {
                throw FleetkeyError(.notFound, "owner '\(unit.manifest.owner)' is not in this registry")
            }
            var next = state
            for authority in unit.authorities where next.authorities[authority.id] == nil {
                next.authorities[authority.id] = authority
            }
            if next.vendors[unit.vendor.name] == nil { next.vendors[unit.vendor.name] = unit.vendor }
            for key in unit.keys where next.keys[key.fingerprint] == nil { next.keys[key.fingerprint] = key }
            for certificate in unit.certificates
            where next.certificates["\(certificate.issuer)/\(certificate.serial)"] == nil {
                try Self.insert(certificate, into: &next)
            }
            for change in unit.devices {
                try Self.check(change, in: next)
                Self.put(change.device, into: &next)
            }
            next.manifests[unit.manifest.digest] = unit.manifest
            Self.append(unit.events, to: &next)
            state = next
            return true
        }
    }

    private static func check(_ change: DeviceChange, in state: State) throws {
        try checkKey(of: change.device, in: state)
        let current = state.devices[change.device.id]?.state
        guard current == change.expectedState else {
            if change.expectedState == nil {
                throw FleetkeyError(
                    .conflict, "device \(change.device.id) was registered by another process first; re-read and retry")
            }
            throw FleetkeyError(
                .conflict,
                "device \(change.device.id) is no longer \(change.expectedState?.rawValue ?? "absent"): another process "
                    + "changed it first; re-read and retry")
        }
    }
}
