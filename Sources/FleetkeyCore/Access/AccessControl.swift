import Foundation

/// An owner's access-control administration: groups and the policy, each change recorded with its event. The CLI
/// only carries these.
public struct AccessControl: Sendable {
    public let store: any AccessStore & RegistryStore
    public let clock: any WallClock
    public let actor: String

    public init(store: any AccessStore & RegistryStore, clock: any WallClock, actor: String) {
        self.store = store
        self.clock = clock
        self.actor = actor
    }

    /// Creates a group with attributes given as `KEY=VALUE`.
    public func createGroup(_ name: String, attributes: [String]) async throws -> DeviceGroup {
        try DeviceGroup.checkName(name)
        var parsed: [String: String] = [:]
        for text in attributes {
            let (key, value) = try DeviceGroup.attribute(parsing: text)
            guard parsed.updateValue(value, forKey: key) == nil else {
                throw FleetkeyError(.invalidArgument, "attribute '\(key)' is given twice; give each key once")
            }
        }
        let now = clock.now()
        let group = DeviceGroup(name: name, attributes: parsed, selectors: [], createdAt: now)
        try await store.createGroup(
            group,
            events: [
                LifecycleEvent(
                    at: now, actor: actor, action: .groupCreated, subject: .group(name),
                    detail: parsed.mapValues { $0 }.reduce(into: [:]) { $0["attribute." + $1.key] = $1.value })
            ])
        return group
    }

    /// Adds devices to a group by vendor, lot or serial. A vendor named must be in the registry, and a serial must
    /// name a device it knows: a selector that can match nothing is a mistake, refused.
    public func add(_ selectors: [GroupSelector], to group: String) async throws {
        guard !selectors.isEmpty else {
            throw FleetkeyError(.invalidArgument, "name the devices to add: --lot, --vendor or --serial")
        }
        for selector in selectors {
            if let vendor = selector.vendor, try await store.vendor(named: vendor) == nil {
                throw FleetkeyError(.notFound, "no vendor '\(vendor)' in this registry; see `fleetkey vendor list`")
            }
            if case .device(let vendor, let serial) = selector {
                let found = try await store.devices(serial: serial).filter { vendor == nil || $0.id.vendor == vendor }
                guard !found.isEmpty else {
                    throw FleetkeyError(.notFound, "no device '\(serial)' in this registry; see `fleetkey device list`")
                }
            }
        }
        try await store.addSelectors(
            selectors, toGroup: group,
            events: [
                LifecycleEvent(
                    at: clock.now(), actor: actor, action: .groupChanged, subject: .group(group),
                    detail: ["added": selectors.map(\.description).joined(separator: "; ")])
            ])
    }

    /// Checks a policy document against this registry's groups and puts it in force.
    public func setPolicy(_ document: [UInt8]) async throws -> AccessPolicy {
        let groups = Set(try await store.groups().map(\.name))
        let policy = try AccessPolicy(document: document, knownGroups: groups)
        let now = clock.now()
        try await store.setAccessPolicy(
            StoredAccessPolicy(document: document, digest: policy.digest, loadedAt: now),
            events: [
                LifecycleEvent(
                    at: now, actor: actor, action: .policySet, subject: .policy(digest: policy.digest),
                    detail: ["rules": "\(policy.rules.count)"])
            ])
        return policy
    }
}
