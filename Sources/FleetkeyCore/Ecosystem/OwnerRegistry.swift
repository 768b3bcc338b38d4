import Foundation
import X509

/// A device owner's registry: it trusts one ecosystem root, holds no CA key, and receives its devices in signed
/// manifests (``ManifestImporter``). The rules for setting one up live here; the CLI only writes the files.
public struct OwnerRegistry: Sendable {
    public let store: any RegistryStore & SupplyChainStore
    public let clock: any WallClock
    public let actor: String

    public init(store: any RegistryStore & SupplyChainStore, clock: any WallClock, actor: String) {
        self.store = store
        self.clock = clock
        self.actor = actor
    }

    /// Records the trusted root (a self-signed CA certificate, ``TrustAnchor/check(_:)``) and the first owner.
    public func create(trusting root: Certificate, owner: String) async throws {
        try TrustAnchor.check(root)
        try Self.checkOwnerName(owner)
        let now = clock.now()
        let anchor = try TrustAnchor.records(root, at: now)
        try await store.createRoot(
            anchor.authority, certificate: anchor.certificate, key: anchor.key,
            events: [
                LifecycleEvent(
                    at: now, actor: actor, action: .trustAnchorAdded, subject: .authority(TrustAnchor.authorityID),
                    detail: ["subject": root.subject.description, "key": anchor.key.fingerprint])
            ])
        try await addOwner(owner)
    }

    /// Adds an owner to the registry (an ecosystem's registry may hold owners too, for manifests shipped to them).
    public func addOwner(_ name: String) async throws {
        try Self.checkOwnerName(name)
        let now = clock.now()
        try await store.addOwner(
            OwnerRecord(name: name, createdAt: now),
            events: [LifecycleEvent(at: now, actor: actor, action: .ownerAdded, subject: .owner(name))])
    }

    /// Owner names keep to ``OwnerName``'s character set: they name directories, events and manifests' buyers.
    public static func checkOwnerName(_ name: String) throws {
        _ = try OwnerName(name)
    }

    /// Approves a shipped device's enrollment (when the owner's policy asks for approval, `fleetkey device
    /// commission`): it becomes commissioned, and its next `/simpleenroll` is issued (``DeviceEnrollment``).
    public func commission(_ id: DeviceID) async throws -> DeviceRecord {
        guard let device = try await store.device(id) else {
            throw FleetkeyError(.notFound, "no device \(id) in this registry; see `fleetkey device list`")
        }
        guard device.owner != nil else {
            throw FleetkeyError(
                .invalidTransition,
                "device \(id) is in none of this registry's imported manifests; import its manifest first")
        }
        let now = clock.now()
        var changed = device
        changed.state = try DeviceLifecycle().next(from: device.state, on: .commission)
        changed.updatedAt = now
        try await store.change(
            DeviceChange(device: changed, expectedState: device.state),
            events: [
                LifecycleEvent(
                    at: now, actor: actor, action: .deviceCommissioned, subject: .device(id),
                    fromState: device.state.rawValue, toState: changed.state.rawValue, detail: ["by": "operator"])
            ], issuer: nil)
        return changed
    }
}
